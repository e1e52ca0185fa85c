// What every example page shares: its session (log in, log out) and a LiveQuery socket that follows it.

// A new LiveQuery socket for whoever is logged in now (the socket carries the session): close the old one and
// wait until it is closed. Parse.LiveQuery.close() returns before the old socket's close event; when that event
// came after the next subscribe had opened a new socket, the SDK (8.x) took it for a lost connection and
// reconnected, and then wrote to a socket still connecting ("Still in CONNECTING state"): the page stopped.
// The client's own close() resolves once the old socket is closed. Bounded, so a close that never completes
// cannot stop the page either.
async function reopenLiveQuery() {
  const client = await Parse.CoreManager.getLiveQueryController().getDefaultLiveQueryClient();
  const closed = client.close();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
}

// The log-in form (#login, with #username and #password) and the log-out button (#logout-button): after either,
// `start` rebuilds the page for whoever is logged in now; `say` shows what went wrong.
function wireSession(start, say) {
  const find = (selector) => document.querySelector(selector);
  find("#login").onsubmit = async (submitted) => {
    submitted.preventDefault();
    say("");
    try {
      await Parse.User.logIn(find("#username").value, find("#password").value);
    } catch (error) {
      say(error.message);
      return;
    }
    await start();
  };
  find("#logout-button").onclick = async () => {
    await Parse.User.logOut();
    await start();
  };
}
