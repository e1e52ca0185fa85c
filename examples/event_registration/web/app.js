// The event registration page: plain JavaScript on the Parse JS SDK, as any Parse app would be written.
// Events (with seats left) and the user's notifications are LiveQuery subscriptions: other people's
// registrations and the organiser's schedule changes show up without a reload.
"use strict";

const config = window.LIVEQUERY_CONFIG;
Parse.initialize(config.appId, config.javascriptKey || undefined);
Parse.serverURL = location.origin + config.mountPath;
Parse.liveQueryServerURL = location.origin.replace(/^http/, "ws") + config.mountPath;

const state = { events: new Map(), sessions: new Map(), mine: new Map(), notifications: new Map() };
const $ = (selector) => document.querySelector(selector);

function say(text) { $("#message").textContent = text || ""; }

function when(date) {
  return date ? date.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short",
                                                 hour: "2-digit", minute: "2-digit" }) : "";
}

function clock(date) {
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function seatsLeft(event) {
  const capacity = event.get("capacity");
  return capacity === undefined || capacity === null ? null : Math.max(capacity - (event.get("seatsTaken") || 0), 0);
}

function renderEvents() {
  const list = $("#events");
  list.replaceChildren();
  const events = [...state.events.values()].sort((a, b) => a.get("date") - b.get("date"));
  for (const event of events) {
    const left = seatsLeft(event);
    const mine = state.mine.get(event.id);
    const item = document.createElement("li");
    item.className = "event";
    item.dataset.id = event.id;
    item.innerHTML = `<div><h3></h3><div class="when"></div><div class="about"></div><ul class="sessions"></ul></div>
      <div><div class="seats"></div><div class="status"></div><div class="action"></div></div>`;
    item.querySelector("h3").textContent = event.get("title");
    item.querySelector(".when").textContent =
      `${when(event.get("date"))}${event.get("location") ? " · " + event.get("location") : ""}`;
    item.querySelector(".about").textContent = event.get("description") || "";
    const schedule = [...state.sessions.values()].filter((session) => session.get("event").id === event.id)
      .sort((a, b) => a.get("time") - b.get("time"));
    for (const session of schedule) {
      const line = document.createElement("li");
      line.textContent = `${clock(session.get("time"))} ${session.get("title")} · ${session.get("speaker")}`;
      item.querySelector(".sessions").append(line);
    }
    const seats = item.querySelector(".seats");
    seats.dataset.seatsLeft = left === null ? "" : String(left);
    seats.textContent = left === null ? "open seating" : `${left} seat${left === 1 ? "" : "s"} left`;
    seats.classList.toggle("full", left === 0);
    const status = item.querySelector(".status");
    if (mine && mine.get("status") !== "cancelled") {
      status.textContent = `You are ${mine.get("status")}`;
      status.classList.add(mine.get("status"));
    }
    const action = item.querySelector(".action");
    if (Parse.User.current() && (!mine || mine.get("status") !== "cancelled")) {
      const button = document.createElement("button");
      button.className = mine ? "cancel" : "register";
      button.textContent = mine ? "Cancel" : (left === 0 ? "Join waitlist" : "Register");
      button.onclick = () => (mine ? cancel(mine) : register(event));
      action.append(button);
    }
    list.append(item);
  }
}

function renderNotifications() {
  const list = $("#notifications");
  list.replaceChildren();
  const newest = [...state.notifications.values()].sort((a, b) => b.createdAt - a.createdAt);
  for (const note of newest) {
    const item = document.createElement("li");
    item.className = note.get("read") ? "notification" : "notification unread";
    item.dataset.id = note.id;
    item.textContent = note.get("message");
    const stamp = document.createElement("time");
    stamp.textContent = when(note.createdAt);
    item.append(stamp);
    item.onclick = () => note.save({ read: true }).then(renderNotifications, (error) => say(error.message));
    list.append(item);
  }
  $("#no-notifications").hidden = newest.length > 0;
}

async function register(event) {
  say("");
  try {
    const registration = await new Parse.Object("Registration").save({ event, user: Parse.User.current() });
    state.mine.set(event.id, registration);
    say(registration.get("status") === "waitlisted" ? `The event is full: you are on the waitlist.` : "");
  } catch (error) {
    say(error.message);
  }
  renderEvents();
}

async function cancel(registration) {
  say("");
  try {
    await registration.save({ status: "cancelled" });
  } catch (error) {
    say(error.message);
  }
  renderEvents();
}

async function start() {
  state.events.clear();
  state.sessions.clear();
  state.mine.clear();
  state.notifications.clear();
  // A new socket for whoever is logged in now (the socket carries the session); closing drops every
  // subscription of the old one (unsubscribing first would race the new socket's opening).
  await reopenLiveQuery();
  const user = Parse.User.current();
  $("#login").hidden = Boolean(user);
  $("#account").hidden = !user;
  $("#inbox").hidden = !user;
  $("#hint").hidden = Boolean(user);
  $("#me").textContent = user ? user.get("username") : "";
  await follow(new Parse.Query("Event").ascending("date").limit(100), state.events, renderEvents);
  await follow(new Parse.Query("Session").limit(1000), state.sessions, renderEvents);
  if (user) {
    const registrations = new Parse.Query("Registration").equalTo("user", user).limit(1000);
    await follow(registrations, state.mine, renderEvents, (registration) => registration.get("event").id); // by event
    await follow(new Parse.Query("Notification").equalTo("user", user).descending("createdAt").limit(50),
                 state.notifications, renderNotifications);
  }
  $("#live-state").textContent = "live";
  document.body.dataset.ready = user ? user.get("username") : "anonymous";
}

wireSession(start, say); // the log-in form and the log-out button (../common/live.js)

start().catch((error) => say(error.message));
