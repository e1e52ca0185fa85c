// The live video viewer's page: plain JavaScript on the Parse JS SDK, as any Parse app would be written.
// The chosen stream's ReactionCount is a LiveQuery subscription (its updates come coalesced by the server, a few
// a second however fast people react); Rewards changes refresh the leaderboard (the `leaderboard` function).
"use strict";

const config = window.LIVEQUERY_CONFIG;
Parse.initialize(config.appId, config.javascriptKey || undefined);
Parse.serverURL = location.origin + config.mountPath;
Parse.liveQueryServerURL = location.origin.replace(/^http/, "ws") + config.mountPath;

const REACTIONS = { like: "Like", heart: "♥ Heart", laugh: "Haha", wow: "Wow", clap: "Clap", question: "? Ask" };
const state = { events: [], event: null, counter: null, participant: null, subscriptions: [] };
const $ = (selector) => document.querySelector(selector);

function say(text) { $("#message").textContent = text || ""; }

function renderEvents() {
  const list = $("#events");
  list.replaceChildren();
  for (const event of state.events) {
    const item = document.createElement("li");
    item.dataset.id = event.id;
    item.textContent = event.get("title");
    item.classList.toggle("chosen", state.event !== null && event.id === state.event.id);
    item.onclick = () => choose(event).catch((error) => say(error.message));
    list.append(item);
  }
}

function renderCounts() {
  const counter = state.counter;
  const count = (name) => (counter ? counter.get(name) || 0 : 0);
  for (const [name, count_] of [["participants", count("participants")], ["total", count("total")]]) {
    $(`#${name}`).textContent = String(count_);
    $(`#${name}`).dataset.count = String(count_);
  }
  for (const name of Object.keys(REACTIONS)) {
    const shown = document.querySelector(`#reactions button[data-type="${name}"] .count`);
    if (shown) shown.textContent = String(count(name));
  }
}

function renderStage() {
  const event = state.event;
  $("#stage").hidden = !event;
  if (!event) return;
  $("#title").textContent = event.get("title");
  $("#when").textContent = event.get("scheduledAt").toLocaleString();
  $("#stream").textContent = event.get("streamUrl");
  $("#stream").href = event.get("streamUrl");
  const user = Parse.User.current();
  const join = $("#join-button");
  join.hidden = !user;
  join.textContent = state.participant ? "Leave" : "Join";
  $("#hint").hidden = Boolean(state.participant);
  const buttons = $("#reactions");
  buttons.replaceChildren();
  for (const [name, symbol] of Object.entries(REACTIONS)) {
    const button = document.createElement("button");
    button.dataset.type = name;
    button.title = name;
    button.disabled = !state.participant;
    button.innerHTML = `<span></span><span class="count">0</span>`;
    button.firstChild.textContent = symbol;
    button.onclick = () => react(name);
    buttons.append(button);
  }
  renderCounts();
}

async function renderLeaderboard() {
  if (!state.event) return;
  const rows = await Parse.Cloud.run("leaderboard", { eventId: state.event.id });
  const list = $("#leaderboard");
  list.replaceChildren();
  for (const row of rows) {
    const item = document.createElement("li");
    item.dataset.user = row.user;
    item.textContent = `${row.username} · ${row.points} pt${row.points === 1 ? "" : "s"}`;
    list.append(item);
  }
  $("#no-leaders").hidden = rows.length > 0;
}

async function react(type) {
  say("");
  $("#earned").textContent = "";
  try {
    const saved = await new Parse.Object("EngagementLog").save({
      participant: state.participant, event: state.event, engagementType: type });
    $("#earned").textContent = saved.get("points") ? `+${saved.get("points")} pts` : "counted (no points this second)";
  } catch (error) {
    say(error.message);
  }
}

async function toggleJoin() {
  say("");
  try {
    if (state.participant) {
      await state.participant.destroy();
      state.participant = null;
    } else {
      state.participant = await new Parse.Object("Participant").save({ user: Parse.User.current(),
                                                                       event: state.event });
    }
  } catch (error) {
    say(error.message);
  }
  renderStage();
}

// One stream at a time: its counter and rewards are followed live; subscribed before the first read, so no
// change falls between the two.
async function choose(event) {
  for (const subscription of state.subscriptions) subscription.unsubscribe();
  state.subscriptions = [];
  state.event = event;
  state.counter = null;
  state.participant = null;
  const counterQuery = new Parse.Query("ReactionCount").equalTo("event", event);
  const counts = await counterQuery.subscribe();
  const put = (counter) => { state.counter = counter; renderCounts(); };
  counts.on("update", put);
  counts.on("create", put);
  const rewards = await new Parse.Query("Rewards").equalTo("event", event).subscribe();
  for (const kind of ["create", "update"]) rewards.on(kind, () => renderLeaderboard().catch(() => {}));
  state.subscriptions.push(counts, rewards);
  const user = Parse.User.current();
  if (user) {
    state.participant = await new Parse.Query("Participant").equalTo("event", event).equalTo("user", user).first();
  }
  const counter = await counterQuery.first();
  if (counter && !state.counter) state.counter = counter;
  renderEvents();
  renderStage();
  await renderLeaderboard();
  $("#live-state").textContent = "live";
  document.body.dataset.event = event.id;
}

async function start() {
  await reopenLiveQuery(); // the socket carries the session of whoever is logged in now
  const user = Parse.User.current();
  $("#login").hidden = Boolean(user);
  $("#account").hidden = !user;
  $("#me").textContent = user ? user.get("username") : "";
  state.events = await new Parse.Query("VideoEvent").ascending("scheduledAt").limit(100).find();
  const wanted = new URLSearchParams(location.search).get("event");
  const first = state.events.find((event) => event.id === wanted) || state.events[0];
  renderEvents();
  if (first) await choose(first);
  document.body.dataset.ready = user ? user.get("username") : "anonymous";
}

$("#join-button").onclick = toggleJoin;

wireSession(start, say); // the log-in form and the log-out button (../common/live.js)

start().catch((error) => say(error.message));
