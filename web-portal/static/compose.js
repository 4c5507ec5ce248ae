// Compose: record with the microphone (MediaRecorder), review, re-record or discard, then
// send with the chosen recipients and attachments. Whatever the browser recorded in (WebM/
// Opus in Chromium, Ogg in Firefox), it is decoded here and sent as a 16 kHz mono WAV, a
// format the server always reads. Without a microphone the form still sends a chosen file.
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
let recorder = null;
let recorded = null; // a WAV Blob

function say(el, text, state) {
  el.textContent = text;
  if (state) document.body.dataset.state = state;
}

function wav(samples, rate) {
  const out = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (at, s) => [...s].forEach((c, i) => out.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF"); out.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, rate, true); out.setUint32(28, rate * 2, true); out.setUint16(32, 2, true);
  out.setUint16(34, 16, true); text(36, "data"); out.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => out.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([out], { type: "audio/wav" });
}

async function toWav(blob) {
  const ctx = new AudioContext();
  const decoded = await ctx.decodeAudioData(await blob.arrayBuffer());
  await ctx.close();
  const rate = 16000;
  const offline = new OfflineAudioContext(1, Math.ceil(decoded.duration * rate), rate);
  const src = offline.createBufferSource();
  src.buffer = decoded; // mixed down to the context's one channel
  src.connect(offline.destination);
  src.start();
  const rendered = await offline.startRendering();
  return wav(rendered.getChannelData(0), rate);
}

async function start() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
    recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((t) => t.stop());
      try {
        recorded = await toWav(new Blob(chunks, { type: recorder.mimeType }));
        ui.review.src = URL.createObjectURL(recorded);
        ui.review.hidden = false;
        ui.discard.disabled = false;
        say(ui.status, `Recorded ${(recorded.size / 32000).toFixed(1)} s. Listen, record again, or send.`, "recorded");
      } catch (err) {
        say(ui.status, `Could not read the recording: ${err}`, "error");
      }
    });
    recorder.start();
    ui.record.disabled = true;
    ui.stop.disabled = false;
    say(ui.status, "Recording… press Stop when you are done.", "recording");
  } catch (err) {
    say(ui.status, `No microphone: ${err.message ?? err}`, "error");
  }
}

if (navigator.mediaDevices?.getUserMedia && window.MediaRecorder) {
  ui.box.hidden = false;
  ui.record.addEventListener("click", () => {
    recorded = null;
    ui.review.hidden = true;
    start();
  });
  ui.stop.addEventListener("click", () => {
    recorder?.stop();
    ui.stop.disabled = true;
    ui.record.disabled = false;
    ui.record.textContent = "Record again";
  });
  ui.discard.addEventListener("click", () => {
    recorded = null;
    ui.review.hidden = true;
    ui.review.removeAttribute("src");
    ui.discard.disabled = true;
    say(ui.status, "Discarded.", "ready");
  });
}

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
