// My recorded name: record it here (recorder.js) or choose a file; saved with the form.
import { recorder } from "/static/recorder.js";

const form = document.getElementById("name-form");
const file = document.getElementById("name-file");
let recorded = null;
recorder(
  {
    box: document.getElementById("recorder"),
    record: document.getElementById("record"),
    stop: document.getElementById("stop"),
    status: document.getElementById("rec-status"),
    review: document.getElementById("review"),
  },
  (wav) => { recorded = wav; },
);
form.addEventListener("submit", (e) => {
  if (!recorded) return; // a chosen file posts as usual
  e.preventDefault();
  const data = new FormData(form);
  data.set("audio", recorded, "name.wav");
  fetch(form.action, { method: "POST", body: data, credentials: "same-origin" }).then((res) => {
    if (res.ok || res.redirected) location.assign("/profile");
    else res.text().then((t) => { document.open(); document.write(t); document.close(); });
  });
});
file.addEventListener("change", () => { recorded = null; });
