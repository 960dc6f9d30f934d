import { postJSON } from "./api.js";
import * as passkey from "./webauthn.js";

const status = document.getElementById("passkey-status");
const add = document.getElementById("add-passkey");

add?.addEventListener("click", async () => {
  add.disabled = true;
  status.textContent = "";
  try {
    const api = "/api/account/passkeys/";
    window.location.assign(await passkey.enrol(`${api}options`, {}, `${api}verify`, { nickname: "" }));
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
