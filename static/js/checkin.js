// The check-in page: three sliders with no value until touched, a note, who sees it, one submit.
// The page is an app shell (maybe served by the service worker), so the URL picks the wording.
import * as outbox from "./outbox.js";

const form = document.getElementById("checkin");
const status = document.getElementById("checkin-status");
const params = new URLSearchParams(window.location.search);
const appointment = /^\d+$/.test(params.get("appointment") || "") ? Number(params.get("appointment")) : null;
const phase = ["before", "after"].includes(params.get("phase"))
  ? params.get("phase")
  : appointment ? "after" : "before";
const ITEMS = ["safe", "heard", "understood"];

document.querySelectorAll("[data-phase]").forEach((el) => {
  if (el !== form) el.hidden = el.dataset.phase !== phase;
});

function touch(input) {
  input.classList.remove("untouched");
  input.dataset.touched = "1";
  input.setAttribute("aria-valuetext", form.dataset.msgValue.replace("{n}", input.value));
  document.getElementById(`${input.id}-value`).textContent = input.value;
  input.closest(".item").classList.remove("missing");
}

for (const name of ITEMS) {
  const input = document.getElementById(name);
  // Any deliberate interaction counts, even a tap exactly on the middle (no input event then).
  for (const type of ["input", "change", "pointerup"]) input.addEventListener(type, () => touch(input));
  // Rendered disabled, so no touch can land before these listeners exist (the module may be slow).
  input.disabled = false;
  input.addEventListener("keydown", (e) => {
    if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"].includes(e.key)) {
      setTimeout(() => touch(input), 0);
    }
  });
}

const note = () => document.getElementById(form.querySelector("input[name=visibility]:checked").value === "named" ? "who-named" : "who-anonymous");
form.querySelectorAll("input[name=visibility]").forEach((radio) =>
  radio.addEventListener("change", () => {
    document.getElementById("who-named").hidden = true;
    document.getElementById("who-anonymous").hidden = true;
    note().hidden = false;
  }),
);

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function finish(text) {
  form.hidden = true;
  const done = document.getElementById("done");
  document.getElementById("done-text").textContent = text;
  done.hidden = false;
  done.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const missing = ITEMS.filter((name) => document.getElementById(name).dataset.touched !== "1");
  if (missing.length) {
    missing.forEach((name) => document.getElementById(name).closest(".item").classList.add("missing"));
    status.textContent = form.dataset.msgUntouched.replace("{items}", missing.map((n) => form.dataset[`name${n[0].toUpperCase()}${n.slice(1)}`]).join(", "));
    document.getElementById(missing[0]).focus();
    return;
  }
  status.textContent = "";
  const send = document.getElementById("send");
  send.disabled = true;
  const body = {
    idempotency_key: newKey(),
    appointment_id: appointment,
    phase,
    safe: Number(document.getElementById("safe").value),
    heard: Number(document.getElementById("heard").value),
    understood: Number(document.getElementById("understood").value),
    comment: document.getElementById("comment").value,
    visibility: form.querySelector("input[name=visibility]:checked").value,
    created_at: new Date().toISOString(),
  };
  const result = await outbox.enqueue(body).catch(() => ({ sent: false }));
  if (result.unowned) {
    status.textContent = form.dataset.msgNoOwner;
    askToSignIn();
    send.disabled = false;
    return;
  }
  if (result.rejected) {
    await outbox.dismiss(body.idempotency_key).catch(() => {});
    status.textContent = `${form.dataset.msgError} ${result.error}`;
    send.disabled = false;
    return;
  }
  if (result.sent) finish(form.dataset.msgSent);
  else if (result.signin) finish(form.dataset.msgSignin);
  else finish(form.dataset.msgSaved);
});

// Only a signed-in person checks in (issue 21.3): sign in, then back here.
function askToSignIn() {
  const box = document.getElementById("signin-first");
  box.querySelector("a").search = `next=${encodeURIComponent(location.pathname + location.search)}`;
  box.hidden = false;
}

// Rendered disabled like the sliders: before this line a tap would let the browser submit the form itself.
document.getElementById("send").disabled = false;
outbox.signedIn().then((who) => who.status === 401 && askToSignIn());
outbox.start();
