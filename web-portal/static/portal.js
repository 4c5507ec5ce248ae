// The portal's live parts, on every page: one WebSocket per tab carries presence, receipts,
// new-message notices and pop-ups. The socket reconnects with backoff; after a reconnect the
// page reloads what it shows, since frames sent while it was away are gone (pop-ups still
// waiting to be seen are sent again by the server).
//
// Alerts: a message arriving while a tab is open shows an alert at the top of the page (in
// the page's flow, so it never covers a control) and counts in the tab's title, unless the
// person's quiet hours keep portal alerts back (the server says so in the frame). The
// router's own pop-up for a message already shown is not shown again. Pop-ups waiting at
// sign-in come as one "N new messages" notice; two or more alerts get a "Dismiss all".
const csrf = document.querySelector('meta[name="csrf"]')?.content ?? "";
let attempts = 0;
let everConnected = false;

function setBadge(el, value, base) {
  if (!el) return;
  el.className = `badge ${base} ${value}`;
  el.textContent = value;
}

async function refreshSection(id) {
  // Fetch this page again and swap one section in: no framework, no second template. A
  // section whose player is open waits (swapping it would stop the message mid-play).
  const here = document.getElementById(id);
  if (!here) return;
  const res = await fetch(location.pathname + location.search, { credentials: "same-origin" });
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  const fresh = doc.getElementById(id);
  const now = document.getElementById(id);
  if (!fresh || !now) return;
  const playing = now.querySelector(".player audio");
  if (playing && !playing.paused) {
    playing.addEventListener("pause", () => refreshSection(id), { once: true });
    return;
  }
  now.replaceWith(fresh);
}

// The tab's title counts unheard messages: "(3) Dashboard · Hark".
const baseTitle = document.title;
function setUnread(n) {
  const count = Math.max(0, Number(n) || 0);
  document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
  document.body.dataset.unread = String(count);
  const badge = document.getElementById("unheard-count");
  if (badge) {
    badge.textContent = `${count} new`;
    badge.hidden = count === 0;
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case "hello":
      document.body.dataset.live = "connected";
      setUnread(frame.unread);
      startBurst();
      break;
    case "presence":
      setBadge(document.querySelector(`#contacts li[data-extension="${CSS.escape(frame.extension)}"] .presence`),
        frame.status, "presence");
      break;
    case "receipt":
      setBadge(document.querySelector(
        `#sent [data-message="${CSS.escape(frame.message_id)}"] li[data-recipient="${CSS.escape(frame.extension)}"] .receipt`),
        frame.kind, "receipt");
      // Times, reasons and rows this page has not shown yet come with the section.
      refreshSection("sent-part");
      break;
    case "inbox":
      setUnread(frame.unread);
      refreshSection("inbox-part");
      if (frame.alert) arrived(frame);
      break;
    case "popup":
      queuePopup(frame);
      break;
    case "stream":
      stream(frame);
      break;
    case "call_me":
      callMe(frame);
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
// Messages this tab has already alerted the person to (by arrival, pop-up or live stream).
const alerted = new Set();

function alertBox() {
  let box = document.getElementById("popups");
  if (!box) {
    box = document.createElement("div");
    box.id = "popups";
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", "Alerts");
    (document.querySelector("main") ?? document.body).prepend(box);
  }
  return box;
}

// Two or more alerts get one button that dismisses them all.
function tidyAlerts() {
  const box = document.getElementById("popups");
  if (!box) return;
  const alerts = box.querySelectorAll(".popup");
  let all = box.querySelector(".dismiss-all");
  if (alerts.length >= 2 && !all) {
    all = document.createElement("button");
    all.type = "button";
    all.className = "quiet dismiss-all";
    all.textContent = "Dismiss all";
    all.addEventListener("click", () => {
      box.querySelectorAll(".popup").forEach((p) => p.remove());
      tidyAlerts();
    });
    box.prepend(all);
  } else if (alerts.length < 2 && all) {
    all.remove();
  }
}

function dismissButton(el, text = "Dismiss") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "quiet dismiss";
  b.textContent = text;
  b.addEventListener("click", () => { el.remove(); tidyAlerts(); });
  return b;
}

function addAlert(el) {
  alertBox().append(el);
  tidyAlerts();
}

// Pop-ups come in bursts when someone arrives (those waiting since they were last here, and
// the week's unheard messages the router sends again when they become available): pop-ups
// that arrive together — within 1.5 s of the socket opening, or 0.4 s of each other — become
// one "N new messages" notice, which later ones join, instead of a stack.
let burst = null;
let burstTimer = null;
let opening = false;
function startBurst() {
  opening = true;
  setTimeout(() => { opening = false; }, 1500);
}

function queuePopup(frame) {
  burst ??= [];
  burst.push(frame);
  clearTimeout(burstTimer);
  burstTimer = setTimeout(flushPopups, opening ? 1500 : 400);
}

function flushPopups() {
  const frames = burst ?? [];
  burst = null;
  const fresh = frames.filter((f) => !shown.has(f.attempt_id) && !alerted.has(f.message_id));
  frames.filter((f) => !fresh.includes(f)).forEach(popup); // seen already: answered, not shown
  const summary = document.querySelector("#popups .popup.summary");
  if (fresh.length < 2 && !(summary && fresh.length)) {
    fresh.forEach(popup);
    return;
  }
  summarise(summary, fresh);
}

function summarise(existing, frames) {
  let el = existing;
  if (!el) {
    el = document.createElement("div");
    el.className = "popup summary";
    el.setAttribute("role", "alert");
    el.dataset.count = "0";
    const head = document.createElement("strong");
    const open = document.createElement("a");
    open.href = "/";
    open.textContent = "Open the inbox";
    const row = document.createElement("div");
    row.className = "row";
    row.append(open, dismissButton(el));
    el.append(head, row);
    addAlert(el);
  }
  const count = Number(el.dataset.count) + frames.length;
  el.dataset.count = String(count);
  el.querySelector("strong").textContent = `${count} new messages`;
  for (const f of frames) {
    shown.add(f.attempt_id);
    alerted.add(f.message_id);
    acknowledge(f);
  }
}

// The box an alert about one message is: who sent it, how long it is, a player, Dismiss.
function messageAlert(message, title, seconds, extraClass) {
  const el = document.createElement("div");
  el.className = `popup ${extraClass}`.trim();
  el.dataset.message = message;
  el.setAttribute("role", "alert");
  const head = document.createElement("strong");
  head.textContent = title;
  const meta = document.createElement("div");
  meta.className = "muted";
  meta.textContent = `${Math.max(1, Math.round(seconds))} s`;
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "none";
  audio.src = `/messages/${encodeURIComponent(message)}/audio`;
  audio.setAttribute("aria-label", title);
  audio.addEventListener("play", () => heardHere(el), { once: true });
  el.append(head, meta, audio, dismissButton(el));
  addAlert(el);
  document.body.dataset.popup = message;
  return { el, audio, meta };
}

// A message arrived while this tab is open.
function arrived(frame) {
  if (alerted.has(frame.message_id)) return;
  alerted.add(frame.message_id);
  const title = `${frame.urgent ? "Urgent: new" : "New"} voice message from ${frame.from} (${frame.from_extension})`;
  const { meta } = messageAlert(frame.message_id, title, frame.duration_ms / 1000, "arrival");
  if (document.visibilityState !== "visible" && window.Notification?.permission === "granted") {
    const n = new Notification(title, { body: meta.textContent, tag: frame.message_id });
    n.addEventListener("click", () => { window.focus(); n.close(); });
  }
}

function acknowledge(frame) {
  acked.add(frame.attempt_id);
  send({ type: "seen", attempt_id: frame.attempt_id });
}

function send(frame) {
  if (window.harkSocket?.readyState === WebSocket.OPEN) window.harkSocket.send(JSON.stringify(frame));
}

function popup(frame) {
  if (shown.has(frame.attempt_id)) {
    if (acked.has(frame.attempt_id)) send({ type: "seen", attempt_id: frame.attempt_id });
    return;
  }
  shown.add(frame.attempt_id);
  if (alerted.has(frame.message_id)) {
    // Already in front of the person (it arrived while they watched): seen, not shown twice.
    acknowledge(frame);
    return;
  }
  alerted.add(frame.message_id);
  const title = `${frame.urgent ? "Urgent: v" : "V"}oice message from ${frame.from_name} (${frame.from_extension})`;
  const { audio, meta } = messageAlert(frame.message_id, title, frame.duration_ms / 1000, "");
  let notified = false;
  if (window.Notification?.permission === "granted") {
    const n = new Notification(title, { body: meta.textContent, tag: frame.attempt_id });
    n.addEventListener("click", () => { window.focus(); audio.play(); n.close(); });
    notified = true;
  }
  const ack = () => acknowledge(frame);
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
  alerted.add(frame.message_id);
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
  el.append(head, status, dismissButton(el, "Close"));
  addAlert(el);
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
      refreshSection("inbox-part");
      refreshSection("sent-part");
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

// How Hark's "call me to record" call went, on the page that asked (or as an alert).
const CALL_WORDS = {
  answered: "You answered: speak after the beep, then hang up to send.",
  busy: "Your phone was busy. Nothing was recorded; try again when it is free.",
  no_answer: "Nobody answered your phone. Nothing was recorded.",
  declined: "The call was declined. Nothing was recorded.",
  failed: "Hark could not call you",
};
function callMe(frame) {
  let text = CALL_WORDS[frame.outcome] ?? `The call ended: ${frame.outcome}`;
  if (frame.outcome === "failed") text += frame.detail ? `: ${frame.detail}.` : ".";
  document.body.dataset.call = frame.outcome;
  const here = document.getElementById("call-status");
  if (here) {
    here.textContent = text;
    here.className = `flash ${frame.outcome === "answered" ? "ok" : "error"}`;
    return;
  }
  const el = document.createElement("div");
  el.className = "popup call";
  el.setAttribute("role", "alert");
  const head = document.createElement("strong");
  head.textContent = text;
  el.append(head, dismissButton(el));
  addAlert(el);
}

// One compact play button per message; its player (with a speed control) opens on demand.
const SPEEDS = [1, 1.25, 1.5, 2];
function togglePlayer(button) {
  const holder = button.closest("li, .popup") ?? button.parentElement;
  const open = holder.querySelector(":scope > .player");
  if (open) {
    open.remove();
    button.setAttribute("aria-expanded", "false");
    button.textContent = "▶ Play";
    return;
  }
  const player = document.createElement("div");
  player.className = "player";
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.src = button.dataset.audio;
  audio.setAttribute("aria-label", button.getAttribute("aria-label")?.replace(/^Play /, "") ?? "message");
  const speedLabel = document.createElement("label");
  speedLabel.className = "check";
  speedLabel.textContent = "Speed ";
  const speed = document.createElement("select");
  speed.className = "speed";
  const chosen = Number(localStorage.getItem("hark-speed")) || 1;
  for (const s of SPEEDS) {
    const o = document.createElement("option");
    o.value = String(s);
    o.textContent = `${s}×`;
    o.selected = s === chosen;
    speed.append(o);
  }
  audio.playbackRate = chosen;
  speed.addEventListener("change", () => {
    audio.playbackRate = Number(speed.value);
    localStorage.setItem("hark-speed", speed.value);
  });
  audio.addEventListener("ratechange", () => { speed.value = String(audio.playbackRate); });
  speedLabel.append(speed);
  player.append(audio, speedLabel);
  holder.append(player);
  button.setAttribute("aria-expanded", "true");
  button.textContent = "■ Close player";
  audio.addEventListener("play", () => heardHere(holder), { once: true });
  audio.play().catch(() => {});
}

// Playing an unheard message here makes it heard (the server records it); the page follows.
function heardHere(holder) {
  const row = holder.matches("li[data-message]") ? holder
    : document.querySelector(`#inbox li[data-message="${CSS.escape(holder.dataset.message ?? "")}"]`);
  if (!row?.classList.contains("unheard")) return;
  row.classList.remove("unheard");
  row.querySelector(".badge.new")?.remove();
  setUnread(Number(document.body.dataset.unread ?? 1) - 1);
}

document.addEventListener("click", (e) => {
  const button = e.target.closest?.("button.play[data-audio]");
  if (button) togglePlayer(button);
});

// What cannot be undone asks first (a button's data-confirm); what can (deleting a message)
// offers Undo afterwards instead.
document.addEventListener("submit", (e) => {
  const ask = e.submitter?.dataset.confirm;
  if (ask && !window.confirm(ask)) e.preventDefault();
});

export { csrf };
connect();
