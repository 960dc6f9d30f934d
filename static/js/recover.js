// A lost device: a new passkey made with the recovery code the person saved (app/auth/code_views.py).
import { t } from "./i18n.js";
import * as passkey from "./webauthn.js";

const input = document.getElementById("code");
const status = document.getElementById("recover-status");
const button = document.getElementById("recover-button");

button.addEventListener("click", async () => {
  if (!input.value.trim()) {
    status.textContent = t("Please type your recovery code first.");
    input.focus();
    return;
  }
  button.disabled = true;
  status.textContent = "";
  try {
    const saving = () => (status.textContent = t("Saving…"));
    const body = { code: input.value };
    window.location.assign(await passkey.enrol("/api/recover/options", body, "/api/recover/verify", {}, saving));
  } catch (err) {
    status.textContent = err instanceof DOMException ? passkey.explain(err) : err.message;
    button.disabled = false;
  }
});
// Rendered disabled, so a tap before this script is wired is never silently lost.
button.disabled = false;
