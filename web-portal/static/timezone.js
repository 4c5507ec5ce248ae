// The timezone field on the profile page: every zone the browser knows as suggestions, and,
// for someone who never chose one (the account still says UTC), the browser's own zone filled
// in, saying so; nothing is saved until they press Save.
const field = document.getElementById("timezone");
const list = document.getElementById("zones");
const hint = document.getElementById("timezone-hint");
if (field && list) {
  for (const zone of Intl.supportedValuesOf?.("timeZone") ?? []) {
    const option = document.createElement("option");
    option.value = zone;
    list.append(option);
  }
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (field.dataset.chosen === "no" && mine && mine !== field.value) {
    field.value = mine;
    if (hint) {
      hint.textContent = `Filled in from your browser: ${mine}. Save to keep it.`;
      hint.hidden = false;
    }
  }
}
