// The provider's dashboard: plain JavaScript on the Parse JS SDK, as any Parse app would be written.
// The day's appointments (`?day=YYYY-MM-DD`, UTC; today without it) and the user's notifications are LiveQuery
// subscriptions: a customer's booking or cancellation shows up without a reload, its status badge changing.
// A customer who logs in sees their own appointments of the day the same way.
"use strict";

const config = window.LIVEQUERY_CONFIG;
Parse.initialize(config.appId, config.javascriptKey || undefined);
Parse.serverURL = location.origin + config.mountPath;
Parse.liveQueryServerURL = location.origin.replace(/^http/, "ws") + config.mountPath;

const state = { appointments: new Map(), services: new Map(), notifications: new Map(), subscriptions: [] };
const $ = (selector) => document.querySelector(selector);
const MOVES = { provider: { pending: ["confirmed", "cancelled"], confirmed: ["completed", "cancelled"] },
                customer: { pending: ["cancelled"], confirmed: ["cancelled"] } };
const LABELS = { confirmed: "Confirm", completed: "Complete", cancelled: "Cancel" };

function say(text) { $("#message").textContent = text || ""; }

function dayShown() {
  const asked = new URLSearchParams(location.search).get("day");
  const start = asked ? new Date(`${asked}T00:00:00Z`) : new Date(new Date().toISOString().slice(0, 10));
  return { start, end: new Date(start.getTime() + 24 * 3600 * 1000) };
}

function clock(date) { return date.toISOString().slice(11, 16); }

function renderAppointments() {
  const list = $("#appointments");
  list.replaceChildren();
  const role = Parse.User.current()?.get("role");
  const day = [...state.appointments.values()].sort((a, b) => a.get("appointmentDate") - b.get("appointmentDate"));
  for (const appointment of day) {
    const status = appointment.get("status");
    const item = document.createElement("li");
    item.className = "appointment";
    item.dataset.id = appointment.id;
    item.innerHTML = `<div class="time"></div><div><div class="what"></div><div class="who"></div></div>
      <span class="badge"></span><div class="actions"></div>`;
    const start = appointment.get("appointmentDate");
    const end = new Date(start.getTime() + (appointment.get("duration") || 0) * 60000);
    item.querySelector(".time").textContent = clock(start);
    const service = state.services.get(appointment.get("service").id);
    item.querySelector(".what").textContent = service ? service.get("name") : "Appointment";
    item.querySelector(".who").textContent = `${clock(start)}–${clock(end)} UTC · ` +
      (role === "provider" ? `booked by ${appointment.get("customerName") || "a customer"}` : "your booking");
    const badge = item.querySelector(".badge");
    badge.textContent = status;
    badge.dataset.status = status;
    badge.classList.add(status);
    for (const move of (MOVES[role] || {})[status] || []) {
      if (move === "completed" && start > new Date()) continue; // only once it has started
      if (move !== "completed" && start <= new Date()) continue; // confirm or cancel only before the start
      const button = document.createElement("button");
      button.className = move === "cancelled" ? "cancel" : move;
      button.textContent = LABELS[move];
      button.onclick = () => appointment.save({ status: move }).then(renderAppointments,
                                                                      (error) => say(error.message));
      item.querySelector(".actions").append(button);
    }
    list.append(item);
  }
  $("#no-appointments").hidden = day.length > 0;
}

function renderNotifications() {
  const list = $("#notifications");
  list.replaceChildren();
  const newest = [...state.notifications.values()].sort((a, b) => b.createdAt - a.createdAt);
  for (const note of newest) {
    const item = document.createElement("li");
    item.className = note.get("read") ? "notification" : "notification unread";
    item.textContent = note.get("message");
    const stamp = document.createElement("time");
    stamp.textContent = note.createdAt.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    item.append(stamp);
    item.onclick = () => note.save({ read: true }).then(renderNotifications, (error) => say(error.message));
    list.append(item);
  }
  $("#no-notifications").hidden = newest.length > 0;
}

async function start() {
  for (const subscription of state.subscriptions) subscription.unsubscribe();
  state.subscriptions = [];
  for (const map of [state.appointments, state.services, state.notifications]) map.clear();
  await reopenLiveQuery(); // the socket carries the session of whoever is logged in now
  const user = Parse.User.current();
  for (const [selector, shown] of [["#login", !user], ["#account", user], ["#dashboard", user], ["#hint", !user]]) {
    $(selector).hidden = !shown;
  }
  $("#feed").hidden = true;
  if (user) {
    $("#me").textContent = user.get("username");
    $("#role").textContent = user.get("role");
    const { start: from, end: to } = dayShown();
    $("#day").textContent = `Appointments on ${from.toISOString().slice(0, 10)}`;
    const services = new Parse.Query("Service").limit(1000);
    const mine = new Parse.Query("Appointment").equalTo(user.get("role") === "provider" ? "provider" : "customer",
                                                        user).greaterThanOrEqualTo("appointmentDate", from)
      .lessThan("appointmentDate", to).limit(500);
    const notes = new Parse.Query("Notification").equalTo("user", user).descending("createdAt").limit(50);
    state.subscriptions.push(await follow(services, state.services, renderAppointments),
                             await follow(mine, state.appointments, renderAppointments),
                             await follow(notes, state.notifications, renderNotifications));
    $("#live-state").textContent = "live";
  }
  document.body.dataset.ready = user ? user.get("username") : "anonymous";
}

wireSession(start, say); // the log-in form and the log-out button (../common/live.js)

$("#feed-button").onclick = async () => {
  try {
    $("#feed-url").textContent = (await Parse.Cloud.run("calendarFeed")).url;
    $("#feed").hidden = false;
  } catch (error) {
    say(error.message);
  }
};

start().catch((error) => say(error.message));
