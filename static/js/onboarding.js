// The two optional steps after sign-up (add to Home Screen, turn on reminders), the same steps in
// Settings, and the home page's one later offer of what was skipped. Nothing is asked without a tap.
//
// Choices live in localStorage, not on the server: both steps belong to a device (a second phone has
// not been installed nor subscribed), and on iOS the Home Screen app keeps its own storage, so the
// installed app offers reminders afresh, which is exactly the step Safari had to put off.
import { installed, isIOS, isOn, supported, turnOn } from "./push.js";

const SKIPPED = "attune-skipped-"; // + "install" or "push": when the person said "Not now"
const OFFERED_AGAIN = "attune-offered-again"; // the later offer has been shown: never again
const LATER_MS = 20 * 60 * 60 * 1000; // staff, or a client yet to check in: a later day

const role = document.body.dataset.role;
let deferred = null; // the browser's install prompt, kept for a tap

const store = {
  get(key) {
    try { return localStorage.getItem(key); } catch { return null; }
  },
  set(key, value) {
    try { localStorage.setItem(key, value); } catch { /* private mode: the choice lasts this visit */ }
  },
};

function show(step, mode) {
  step.dataset.mode = mode;
  step.querySelectorAll("[data-when]").forEach((el) => { el.hidden = el.dataset.when !== mode; });
  step.querySelectorAll("[data-skip]").forEach((el) => { el.hidden = mode === "done"; });
}

function installMode() {
  if (installed()) return "done";
  if (isIOS()) return "ios";
  return deferred ? "prompt" : "other";
}

async function pushMode() {
  if (isIOS() && !installed()) return "ios";
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  return (await isOn()) ? "done" : "ask";
}

const steps = (kind) => [...document.querySelectorAll(`[data-step="${kind}"]`)];

function renderInstall() {
  steps("install").forEach((step) => show(step, installMode()));
}

async function renderPush() {
  const mode = await pushMode();
  steps("push").forEach((step) => show(step, mode));
  return mode;
}

async function install() {
  if (!deferred) return;
  const prompt = deferred;
  deferred = null; // a prompt can be shown once
  prompt.prompt();
  const { outcome } = await prompt.userChoice;
  steps("install").forEach((step) => show(step, outcome === "accepted" ? "done" : installMode()));
}

async function remind(button) {
  const step = button.closest("[data-step]");
  const status = step.querySelector("[data-status]");
  button.disabled = true;
  status.textContent = status.dataset.working;
  let result;
  try {
    result = await turnOn();
  } catch {
    result = "failed";
  }
  button.disabled = false;
  status.textContent = result === "failed" ? status.dataset.failed : "";
  if (result === "on") steps("push").forEach((s) => show(s, "done"));
  else await renderPush();
}

function skip(kind) {
  if (!store.get(SKIPPED + kind)) store.set(SKIPPED + kind, String(Date.now()));
}

// "Not now": remember it, and move on to the next thing on the screen.
function skipStep(button) {
  const step = button.closest("[data-step]");
  skip(step.dataset.step);
  step.hidden = true;
  const next = [...document.querySelectorAll("[data-step]:not([hidden]) h2, #continue")][0];
  next?.setAttribute("tabindex", "-1");
  next?.focus();
}

// Leaving the screen with a step neither done nor skipped counts as skipping it.
function leaveFirstSteps() {
  document.querySelectorAll("#next-steps [data-step]:not([hidden])").forEach((step) => {
    if (step.dataset.mode !== "done") skip(step.dataset.step);
  });
}

function skippedLongAgo(kind, ready) {
  const at = Number(store.get(SKIPPED + kind));
  return at > 0 && (ready || Date.now() - at > LATER_MS);
}

// The home page asks once more, later, for what was skipped; and the iOS Home Screen app, opened for
// the first time, offers the reminders Safari could not turn on.
async function offerAgain(box) {
  if (store.get(OFFERED_AGAIN)) return;
  const ready = box.dataset.ready === "1";
  const [install, push] = [box.querySelector('[data-step="install"]'), box.querySelector('[data-step="push"]')];
  const wantInstall = skippedLongAgo("install", ready) && installMode() !== "done";
  const pushNow = push ? await pushMode() : "none";
  const firstInstalledOpen = isIOS() && installed() && !store.get(SKIPPED + "push");
  const wantPush = pushNow === "ask" && (skippedLongAgo("push", ready) || firstInstalledOpen);
  install.hidden = !wantInstall;
  if (push) push.hidden = !wantPush;
  if (!wantInstall && !wantPush) return;
  box.hidden = false;
  store.set(OFFERED_AGAIN, String(Date.now()));
}

window.addEventListener("beforeinstallprompt", (event) => {
  event.preventDefault(); // the prompt waits for a tap on our button
  deferred = event;
  renderInstall();
});
window.addEventListener("appinstalled", () => steps("install").forEach((step) => show(step, "done")));

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action], [data-skip], [data-dismiss], #continue");
  if (!target) return;
  if (target.dataset.action === "install") install();
  else if (target.dataset.action === "push") remind(target);
  else if (target.dataset.skip) skipStep(target);
  else if (target.hasAttribute("data-dismiss")) target.closest("#offer-again").hidden = true;
  else if (target.id === "continue") leaveFirstSteps();
});

renderInstall();
if (role === "client") renderPush();
const again = document.getElementById("offer-again");
if (again) offerAgain(again);
