import { t } from "./i18n.js";
import { postJSON } from "./api.js";
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
    if (!passkey.supported()) throw new DOMException("unsupported", "NotSupportedError");
    const opts = await postJSON(url("options"), details);
    if (!opts.ok) throw new Error(opts.data.error || t("This invite cannot be used."));
    const credential = await passkey.create(opts.data);
    status.textContent = t("Saving…");
    const res = await postJSON(url("verify"), { ...details, credential, nickname: deviceName() });
    if (!res.ok) throw new Error(res.data.error || t("Could not save your passkey."));
    window.location.assign(res.data.redirect);
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
