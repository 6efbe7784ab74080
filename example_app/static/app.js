// The example's page: no framework, no build step. Talks to the app's REST routes only.
"use strict";

const APP = "notes";
const $ = (id) => document.getElementById(id);
let current = null; // the open session's id

const sessionsPath = () => `/apps/${APP}/users/${encodeURIComponent($("user-id").value.trim())}/sessions`;

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) },
  });
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

function setStatus(text) { $("status").textContent = text; }

function splitState(state) {
  const scopes = { user: {}, session: {}, app: {} };
  for (const [key, value] of Object.entries(state || {})) {
    if (key.startsWith("user:")) scopes.user[key] = value;
    else if (key.startsWith("app:")) scopes.app[key] = value;
    else scopes.session[key] = value;
  }
  return scopes;
}

function showState(state) {
  const scopes = splitState(state);
  for (const scope of ["user", "session", "app"]) {
    $(`state-${scope}`).textContent = JSON.stringify(scopes[scope], null, 2);
  }
}

function eventText(event) {
  const parts = (event.content && event.content.parts) || [];
  return parts.map((part) => part.text || "").join("");
}

function showEvent(event) {
  const item = document.createElement("li");
  item.className = event.author === "user" ? "user" : "agent";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = event.author;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = eventText(event);
  if (!text.textContent) text.classList.add("state-only");
  item.append(author, text);
  const delta = event.actions && event.actions.stateDelta;
  if (delta && Object.keys(delta).length) {
    const code = document.createElement("code");
    code.className = "delta";
    code.textContent = `stateDelta ${JSON.stringify(delta)}`;
    item.append(code);
  }
  $("events").append(item);
  item.scrollIntoView({ block: "nearest" });
}

async function loadSessions() {
  const body = await api(sessionsPath());
  const sessions = Array.isArray(body) ? body : body.sessions || [];
  const list = $("session-list");
  list.replaceChildren();
  for (const session of sessions.slice().reverse()) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.sessionId = session.id;
    button.textContent = session.id;
    button.classList.toggle("active", session.id === current);
    button.addEventListener("click", () => openSession(session.id).catch((e) => setStatus(e.message)));
    item.append(button);
    list.append(item);
  }
  $("no-sessions").hidden = sessions.length > 0;
}

async function openSession(id) {
  const session = await api(`${sessionsPath()}/${encodeURIComponent(id)}`);
  current = session.id;
  $("session-title").textContent = `Session ${session.id}`;
  $("events").replaceChildren();
  session.events.forEach(showEvent);
  showState(session.state);
  $("message").disabled = $("send").disabled = false;
  $("message").focus();
  for (const button of document.querySelectorAll("#session-list button")) {
    button.classList.toggle("active", button.dataset.sessionId === current);
  }
  setStatus("");
}

async function newSession() {
  const session = await api(sessionsPath(), { method: "POST", body: "{}" });
  await loadSessions();
  await openSession(session.id);
}

// Read server-sent events from a fetch body: blocks separated by a blank line.
async function* readSse(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const kind = (block.match(/^event: (.*)$/m) || [])[1] || "message";
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) yield { kind, data: JSON.parse(data) };
    }
  }
}

async function send(event) {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text || !current) return;
  $("message").value = "";
  $("send").disabled = true;
  setStatus("running…");
  showEvent({ author: "user", content: { parts: [{ text }] } });
  try {
    const response = await fetch(`${sessionsPath()}/${encodeURIComponent(current)}/run`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    for await (const { kind, data } of readSse(response)) {
      if (kind === "error") throw new Error(`${data.error}: ${data.message}`);
      showEvent(data);
    }
    const session = await api(`${sessionsPath()}/${encodeURIComponent(current)}`);
    showState(session.state);
    await loadSessions();
    setStatus("done");
  } catch (error) {
    setStatus(error.message);
  } finally {
    $("send").disabled = false;
    $("message").focus();
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("new-session").addEventListener("click", () => newSession().catch((e) => setStatus(e.message)));
  $("send-form").addEventListener("submit", send);
  $("user-id").addEventListener("change", () => {
    current = null;
    $("events").replaceChildren();
    showState({});
    $("message").disabled = $("send").disabled = true;
    $("session-title").textContent = "Create or open a session";
    loadSessions().catch((e) => setStatus(e.message));
  });
  loadSessions().catch((e) => setStatus(e.message));
});
