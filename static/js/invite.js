import { t } from "./i18n.js";
import * as passkey from "./webauthn.js";

const box = document.getElementById("invite");
const status = document.getElementById("register-status");
const button = document.getElementById("register-button");
const nameInput = document.getElementById("display-name");
const url = (step) => `/api/invite/${encodeURIComponent(box.dataset.token)}/${step}`;
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

button.addEventListener("click", async () => {
  if (nameInput && !nameInput.value.trim()) {
    status.textContent = t("Please enter a name or nickname first.");
    nameInput.focus();
    return;
  }
  button.disabled = true;
  status.textContent = "";
  const details = { display_name: nameInput ? nameInput.value : "", time_zone: zone };
  try {
    const saving = () => (status.textContent = t("Saving…"));
    const extra = { ...details, nickname: deviceName() };
    window.location.assign(await passkey.enrol(url("options"), details, url("verify"), extra, saving));
  } catch (err) {
    status.textContent = err instanceof DOMException ? passkey.explain(err) : err.message;
    button.disabled = false;
  }
});
// Rendered disabled, so a tap before this script is wired is never silently lost.
button.disabled = false;

function deviceName() {
  const ua = navigator.userAgent;
  if (/iPhone/.test(ua)) return "iPhone";
  if (/iPad/.test(ua)) return "iPad";
  if (/Android/.test(ua)) return t("Android phone");
  if (/Mac/.test(ua)) return "Mac";
  if (/Windows/.test(ua)) return t("Windows PC");
  return t("This device");
}
