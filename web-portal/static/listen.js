// The listen page: shows playback state, and starts playing at once when the address ends in
// "#play" and the browser allows it (otherwise the visitor presses play).
const player = document.getElementById("player");
const status = document.getElementById("status");

function show(state, text) {
  document.body.dataset.state = state;
  status.textContent = text;
}

player.addEventListener("playing", () => show("playing", "Playing…"));
player.addEventListener("ended", () => show("ended", "Played to the end."));
player.addEventListener("error", () => show("error", "The message could not be played."));

if (location.hash === "#play") {
  player.play().catch(() => show("ready", "Press play to listen."));
}
