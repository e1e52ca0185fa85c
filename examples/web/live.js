// What every example page shares: its session (log in, log out), a LiveQuery socket that follows it, and
// queries followed live.

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

// A query followed live into `map` (keyed by `keyOf`, the object's id unless told): objects created, updated and
// entering are put, those leaving and deleted are dropped, and `render` runs after each change. Subscribed before
// the first read, so no change falls between the two; a live copy is never replaced by an older one from the
// read. Returns the subscription.
async function follow(query, map, render, keyOf = (object) => object.id) {
  const subscription = await query.subscribe();
  const put = (object) => { map.set(keyOf(object), object); render(); };
  const drop = (object) => { map.delete(keyOf(object)); render(); };
  for (const name of ["create", "update", "enter"]) subscription.on(name, put);
  for (const name of ["leave", "delete"]) subscription.on(name, drop);
  for (const object of await query.find()) {
    if (!map.has(keyOf(object))) map.set(keyOf(object), object);
  }
  render();
  return subscription;
}
