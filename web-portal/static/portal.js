// The dashboard's live parts: one WebSocket per tab carries presence, receipts, new-message
// notices and pop-ups. The socket reconnects with backoff; after a reconnect the page reloads
// what it shows, since frames sent while it was away are gone.
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
    default:
      document.dispatchEvent(new CustomEvent("hark-frame", { detail: frame }));
  }
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
  ws.addEventListener("close", () => {
    document.body.dataset.live = "disconnected";
    const wait = Math.min(30000, 500 * 2 ** attempts++);
    setTimeout(connect, wait);
  });
  window.harkSocket = ws;
}

export { csrf };
connect();
