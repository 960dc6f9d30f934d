import { t } from "./i18n.js";
import { postJSON } from "./api.js";
import * as passkey from "./webauthn.js";

const box = document.getElementById("signin");
const status = document.getElementById("signin-status");
const button = document.getElementById("signin-button");

// Autofill (conditional UI) and the button must never run two ceremonies at once: the server keeps
// one pending challenge per browser session, and two sign-in requests in flight would overwrite
// each other's session cookie. The button waits until autofill has its options, then either
// leaves a finished autofill alone or aborts it and takes over.
let autofill = null;
let autofillReady = Promise.resolve();
let autofillVerifying = false;

async function signIn({ conditional = false } = {}) {
  const controller = conditional ? new AbortController() : null;
  if (conditional) autofill = controller;
  const pending = postJSON("/api/auth/signin/options", {});
  if (conditional) autofillReady = pending.catch(() => null);
  const opts = await pending;
  if (!opts.ok) throw new Error(opts.data.error || t("Could not start sign-in."));
  const credential = await passkey.get(opts.data, { conditional, signal: controller?.signal });
  if (controller?.signal.aborted) return; // the button took over
  if (conditional) autofillVerifying = true;
  status.textContent = "Checking…";
  const res = await postJSON("/api/auth/signin/verify", {
    credential,
    next: box.dataset.next,
    reauth: Boolean(box.dataset.reauth),
  });
  if (!res.ok) {
    autofillVerifying = false;
    throw new Error(res.data.error || t("Sign-in failed. Please try again."));
  }
  window.location.assign(res.data.redirect);
}

button.addEventListener("click", async () => {
  button.disabled = true;
  await autofillReady;
  if (autofillVerifying) return; // autofill is already signing in
  autofill?.abort();
  status.textContent = "";
  try {
    await signIn();
  } catch (err) {
    status.textContent = err instanceof DOMException ? passkey.explain(err) : err.message;
  } finally {
    button.disabled = false;
  }
});
// Rendered disabled, so a tap before this script is wired is never silently lost.
button.disabled = false;

if (!passkey.supported()) {
  status.textContent = passkey.explain(null);
} else if (!box.dataset.reauth && (await passkey.conditionalAvailable())) {
  signIn({ conditional: true }).catch((err) => {
    if (!(err instanceof DOMException)) status.textContent = err.message;
    button.disabled = false;
  });
}
