import { postJSON } from "./api.js";
import * as passkey from "./webauthn.js";

const box = document.getElementById("signin");
const status = document.getElementById("signin-status");
const button = document.getElementById("signin-button");
let autofill = null;

async function signIn({ conditional = false } = {}) {
  const opts = await postJSON("/api/auth/signin/options", {});
  if (!opts.ok) throw new Error(opts.data.error || "Could not start sign-in.");
  if (conditional) autofill = new AbortController();
  const credential = await passkey.get(opts.data, { conditional, signal: autofill?.signal });
  status.textContent = "Checking…";
  const res = await postJSON("/api/auth/signin/verify", {
    credential,
    next: box.dataset.next,
    reauth: Boolean(box.dataset.reauth),
  });
  if (!res.ok) throw new Error(res.data.error || "Sign-in failed. Please try again.");
  window.location.assign(res.data.redirect);
}

button.addEventListener("click", async () => {
  autofill?.abort();
  button.disabled = true;
  status.textContent = "";
  try {
    await signIn();
  } catch (err) {
    status.textContent = err instanceof DOMException ? passkey.explain(err) : err.message;
  } finally {
    button.disabled = false;
  }
});

if (!passkey.supported()) {
  status.textContent = passkey.explain(null);
} else if (!box.dataset.reauth && (await passkey.conditionalAvailable())) {
  signIn({ conditional: true }).catch(() => {});
}
