// Live playback of a message while it is being spoken. /messages/<id>/live sends fragments
// (binary, hark.live format: "HL", version, end, rate u16, seq u32, offset_ms u32, PCM16 LE)
// which are scheduled back to back on an AudioContext; after a dropped connection the stream
// is opened again and fragments already played are skipped, so nothing plays twice.
// What arrived is kept on window.harkLive[id] (for the page and for tests).

const LEAD = 0.15; // seconds of audio buffered ahead of the speaker

export function playLive(frame, box, status) {
  const id = frame.message_id;
  const got = (window.harkLive ??= {})[id] = { pcm: [], rate: 0, nextSeq: 0, state: "connecting", gaps: 0 };
  const ctx = new AudioContext();
  let at = 0; // when the next fragment starts, in ctx time
  let tries = 0;

  const resume = document.createElement("button");
  resume.type = "button";
  resume.textContent = "Listen";
  resume.hidden = ctx.state !== "suspended";
  resume.addEventListener("click", () => { ctx.resume(); resume.hidden = true; });
  box.append(resume);

  function fragment(buf) {
    const v = new DataView(buf);
    if (buf.byteLength < 14 || v.getUint8(0) !== 0x48 || v.getUint8(1) !== 0x4c) return;
    const rate = v.getUint16(4, true);
    const seq = v.getUint32(6, true);
    if (seq < got.nextSeq) return; // played already (before a reconnect)
    got.gaps += seq - got.nextSeq;
    got.nextSeq = seq + 1;
    const n = (buf.byteLength - 14) >> 1;
    if (n === 0) return;
    const pcm = new Int16Array(buf.slice(14, 14 + n * 2));
    got.pcm.push(...pcm);
    got.rate = rate;
    const audio = ctx.createBuffer(1, n, rate);
    const ch = audio.getChannelData(0);
    for (let i = 0; i < n; i++) ch[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = audio;
    src.connect(ctx.destination);
    at = Math.max(at, ctx.currentTime + LEAD);
    src.start(at);
    at += n / rate;
    got.state = "playing";
    status.textContent = `Playing live · ${(got.pcm.length / rate).toFixed(1)} s`;
  }

  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/messages/${encodeURIComponent(id)}/live`);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") return fragment(e.data);
      const end = JSON.parse(e.data);
      if (end.type !== "end") return;
      got.state = end.state;
      got.gaps = end.gaps;
      status.textContent = end.state === "complete" ? "Heard live · the message is in your inbox" : "Withdrawn by the sender";
      document.body.dataset.stream = end.state;
    });
    ws.addEventListener("close", () => {
      if (got.state === "complete" || got.state === "cancelled" || tries++ > 5) return;
      setTimeout(open, 500 * tries);
    });
    got.socket = ws;
  }
  open();
  document.body.dataset.stream = "started";
}
