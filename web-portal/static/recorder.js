// A microphone recorder for the portal's forms: MediaRecorder, then whatever the browser
// recorded in (WebM/Opus in Chromium, Ogg in Firefox) is decoded here and kept as a 16 kHz
// mono WAV, a format the server always reads.

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

export async function toWav(blob) {
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

export function say(el, text, state) {
  el.textContent = text;
  if (state) document.body.dataset.state = state;
}

// Wire the recorder widget `ui` ({box, record, stop, discard?, status, review}); `changed`
// gets the WAV Blob after each recording, or null when it is discarded. Shows the widget
// only where the browser can record.
export function recorder(ui, changed) {
  if (!(navigator.mediaDevices?.getUserMedia && window.MediaRecorder)) return;
  let rec = null;
  ui.box.hidden = false;
  // While recording: how long so far, and how loud the microphone is (so a muted or wrong
  // microphone shows before the whole message is spoken into it).
  const timer = document.createElement("span");
  timer.className = "rec-timer";
  timer.hidden = true;
  const level = document.createElement("meter");
  level.className = "rec-level";
  level.min = 0;
  level.max = 1;
  level.value = 0;
  level.setAttribute("aria-label", "Microphone level");
  level.hidden = true;
  ui.box.append(timer, level);
  let watching = null;
  function watch(stream) {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const began = performance.now();
    timer.hidden = level.hidden = false;
    const tick = setInterval(() => {
      const s = Math.floor((performance.now() - began) / 1000);
      timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      // RMS on a scale where ordinary speech sits in the middle.
      level.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      document.body.dataset.level = level.value.toFixed(2);
    }, 100);
    return () => { clearInterval(tick); ctx.close(); level.value = 0; level.hidden = true; };
  }
  async function start() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      rec = new MediaRecorder(stream);
      watching = watch(stream);
      rec.addEventListener("dataavailable", (e) => chunks.push(e.data));
      rec.addEventListener("stop", async () => {
        watching?.();
        watching = null;
        stream.getTracks().forEach((t) => t.stop());
        try {
          const recorded = await toWav(new Blob(chunks, { type: rec.mimeType }));
          ui.review.src = URL.createObjectURL(recorded);
          ui.review.hidden = false;
          if (ui.discard) ui.discard.disabled = false;
          changed(recorded);
          say(ui.status, `Recorded ${(recorded.size / 32000).toFixed(1)} s. Listen, record again, or save.`, "recorded");
        } catch (err) {
          say(ui.status, `Could not read the recording: ${err}`, "error");
        }
      });
      rec.start();
      ui.record.disabled = true;
      ui.stop.disabled = false;
      say(ui.status, "Recording… press Stop when you are done.", "recording");
    } catch (err) {
      say(ui.status, `No microphone: ${err.message ?? err}`, "error");
    }
  }
  ui.record.addEventListener("click", () => {
    changed(null);
    ui.review.hidden = true;
    start();
  });
  ui.stop.addEventListener("click", () => {
    rec?.stop();
    ui.stop.disabled = true;
    ui.record.disabled = false;
    ui.record.textContent = "Record again";
  });
  ui.discard?.addEventListener("click", () => {
    changed(null);
    ui.review.hidden = true;
    ui.review.removeAttribute("src");
    ui.discard.disabled = true;
    say(ui.status, "Discarded.", "ready");
  });
}
