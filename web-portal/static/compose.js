// Compose: record with the microphone (recorder.js), review, re-record or discard, then
// send with the chosen recipients and attachments. Without a microphone the form still sends
// a chosen file.
import { recorder, say } from "/static/recorder.js";

const form = document.getElementById("compose");
const csrf = form.querySelector('input[name="csrf"]').value;
const ui = {
  box: document.getElementById("recorder"),
  record: document.getElementById("record"),
  stop: document.getElementById("stop"),
  discard: document.getElementById("discard"),
  status: document.getElementById("rec-status"),
  review: document.getElementById("review"),
  file: document.getElementById("audio"),
  send: document.getElementById("send"),
  sendStatus: document.getElementById("send-status"),
};
let recorded = null; // a WAV Blob

recorder(
  { box: ui.box, record: ui.record, stop: ui.stop, discard: ui.discard, status: ui.status, review: ui.review },
  (wav) => { recorded = wav; },
);

ui.file.addEventListener("change", () => {
  const f = ui.file.files[0];
  if (!f) return;
  recorded = null;
  ui.review.src = URL.createObjectURL(f);
  ui.review.hidden = false;
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = new FormData(form);
  if (recorded) data.set("audio", recorded, "recording.wav");
  ui.send.disabled = true;
  say(ui.sendStatus, "Sending…", "sending");
  try {
    const res = await fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf },
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      say(ui.sendStatus, "Sent.", "sent");
      location.assign(body.location ?? "/");
    } else {
      say(ui.sendStatus, body.error ?? `Not sent (${res.status}).`, "error");
      ui.send.disabled = false;
    }
  } catch (err) {
    say(ui.sendStatus, `Not sent: ${err}`, "error");
    ui.send.disabled = false;
  }
});

// "Call me" takes the recipients picked in the form above.
document.getElementById("call-me")?.addEventListener("submit", () => {
  const picked = [...form.querySelectorAll('input[name="pick"]:checked')].map((i) => i.value);
  const typed = document.getElementById("to").value;
  document.getElementById("call-to").value = [...picked, typed].filter(Boolean).join(",");
});
