// The portal's live parts, on every page: one WebSocket per tab carries presence, receipts,
// new-message notices and pop-ups. The socket reconnects with backoff; after a reconnect the
// page reloads what it shows, since frames sent while it was away are gone (pop-ups still
// waiting to be seen are sent again by the server).
const csrf = document.querySelector('meta[name="csrf"]')?.content ?? "";
let attempts = 0;
let everConnected = false;

function setBadge(el, value, base) {
  if (!el) return;
  el.className = `badge ${base} ${value}`;
  el.textContent = value;
}

async function refreshSection(id) {
  // Fetch this page again and swap one section in: no framework, no second template.
  const res = await fetch(location.pathname, { credentials: "same-origin" });
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  const fresh = doc.getElementById(id);
  const here = document.getElementById(id);
  if (fresh && here) here.replaceWith(fresh);
  if (id === "inbox") document.getElementById("inbox-empty")?.remove();
}

function onFrame(frame) {
  switch (frame.type) {
    case "hello":
      document.body.dataset.live = "connected";
      break;
    case "presence":
      setBadge(document.querySelector(`#contacts li[data-extension="${CSS.escape(frame.extension)}"] .presence`),
        frame.status, "presence");
      break;
    case "receipt":
      setBadge(document.querySelector(
        `#sent tr[data-message="${CSS.escape(frame.message_id)}"] li[data-recipient="${CSS.escape(frame.extension)}"] .receipt`),
        frame.kind, "receipt");
      break;
    case "inbox":
      refreshSection("inbox");
      break;
    case "popup":
      popup(frame);
      break;
    case "stream":
      stream(frame);
      break;
    default:
      document.dispatchEvent(new CustomEvent("hark-frame", { detail: frame }));
  }
}

// Pop-ups: shown once per attempt, in the page and (if allowed) as a browser notification;
// the server hears "seen" once the person could see it. The server sends a pop-up again when
// it did not hear "seen" (a lost frame, a database that was down): it is not shown twice, only
// answered again.
const shown = new Set();
const acked = new Set();

function send(frame) {
  if (window.harkSocket?.readyState === WebSocket.OPEN) window.harkSocket.send(JSON.stringify(frame));
}

function popup(frame) {
  if (shown.has(frame.attempt_id)) {
    if (acked.has(frame.attempt_id)) send({ type: "seen", attempt_id: frame.attempt_id });
    return;
  }
  shown.add(frame.attempt_id);
  let box = document.getElementById("popups");
  if (!box) {
    box = document.createElement("div");
    box.id = "popups";
    document.body.append(box);
  }
  const el = document.createElement("div");
  el.className = "popup";
  el.dataset.message = frame.message_id;
  el.setAttribute("role", "alert");
  const title = `${frame.urgent ? "Urgent: v" : "V"}oice message from ${frame.from_name} (${frame.from_extension})`;
  const head = document.createElement("strong");
  head.textContent = title;
  const meta = document.createElement("div");
  meta.className = "muted";
  meta.textContent = `${Math.max(1, Math.round(frame.duration_ms / 1000))} s`;
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "none";
  audio.src = `/messages/${encodeURIComponent(frame.message_id)}/audio`;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "quiet dismiss";
  dismiss.textContent = "Dismiss";
  dismiss.addEventListener("click", () => el.remove());
  el.append(head, meta, audio, dismiss);
  box.append(el);
  let notified = false;
  if (window.Notification?.permission === "granted") {
    const n = new Notification(title, { body: meta.textContent, tag: frame.attempt_id });
    n.addEventListener("click", () => { window.focus(); audio.play(); n.close(); });
    notified = true;
  }
  const ack = () => {
    acked.add(frame.attempt_id);
    send({ type: "seen", attempt_id: frame.attempt_id });
  };
  if (notified || document.visibilityState === "visible") {
    ack();
  } else {
    document.addEventListener("visibilitychange", function once() {
      if (document.visibilityState !== "visible") return;
      document.removeEventListener("visibilitychange", once);
      ack();
    });
  }
  document.body.dataset.popup = frame.message_id;
}

// A message being spoken to me right now: play it live (live.js) in a box like a pop-up's.
async function stream(frame) {
  if (shown.has(frame.attempt_id)) return;
  shown.add(frame.attempt_id);
  let box = document.getElementById("popups");
  if (!box) {
    box = document.createElement("div");
    box.id = "popups";
    document.body.append(box);
  }
  const el = document.createElement("div");
  el.className = "popup live";
  el.dataset.message = frame.message_id;
  el.setAttribute("role", "alert");
  const head = document.createElement("strong");
  head.textContent = `${frame.from_name} (${frame.from_extension}) is leaving you a message`;
  const status = document.createElement("div");
  status.className = "muted";
  status.setAttribute("role", "status");
  status.textContent = "Connecting…";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "quiet dismiss";
  close.textContent = "Close";
  close.addEventListener("click", () => el.remove());
  el.append(head, status, close);
  box.append(el);
  const { playLive } = await import("/static/live.js");
  playLive(frame, el, status);
}

// Offer browser notifications where the person has not decided yet (asking needs a click).
if (window.Notification?.permission === "default") {
  const ask = document.createElement("button");
  ask.type = "button";
  ask.className = "link";
  ask.id = "enable-notifications";
  ask.textContent = "Enable notifications";
  ask.addEventListener("click", async () => {
    await Notification.requestPermission();
    ask.remove();
  });
  document.querySelector("header.top nav")?.append(ask);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  ws.addEventListener("open", () => {
    attempts = 0;
    if (everConnected) {
      refreshSection("inbox");
      refreshSection("sent");
      refreshSection("contacts");
    }
    everConnected = true;
  });
  ws.addEventListener("message", (e) => {
    try { onFrame(JSON.parse(e.data)); } catch (err) { console.warn("bad frame", err); }
  });
  ws.addEventListener("close", (e) => {
    // 4401: this tab's session ended (signed out here or elsewhere, a new password, the
    // account disabled); reconnecting would only be refused.
    if (e.code === 4401) {
      location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    document.body.dataset.live = "disconnected";
    const wait = Math.min(30000, 500 * 2 ** attempts++);
    setTimeout(connect, wait);
  });
  window.harkSocket = ws;
}

export { csrf };
connect();
