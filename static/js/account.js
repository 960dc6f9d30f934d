import { t } from "./i18n.js";
import { postJSON } from "./api.js";
import * as passkey from "./webauthn.js";

const status = document.getElementById("passkey-status");
const add = document.getElementById("add-passkey");

add?.addEventListener("click", async () => {
  add.disabled = true;
  status.textContent = "";
  try {
    const opts = await postJSON("/api/account/passkeys/options", {});
    if (!opts.ok) throw new Error(opts.data.error || t("Could not start."));
    const credential = await passkey.create(opts.data);
    const res = await postJSON("/api/account/passkeys/verify", { credential, nickname: "" });
    if (!res.ok) throw new Error(res.data.error || t("Could not save the passkey."));
    window.location.assign(res.data.redirect);
  } catch (err) {
    status.textContent = err instanceof DOMException ? passkey.explain(err) : err.message;
    add.disabled = false;
  }
});

document.getElementById("use-device-zone")?.addEventListener("click", async () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const res = await postJSON("/api/account/time-zone", { time_zone: zone });
  if (res.ok) window.location.reload();
});
