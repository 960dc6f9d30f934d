// Every page: service worker, install hint, small progressive enhancements.

const role = document.body.dataset.role;

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

// Feature modules that run on every app open for signed-in clients (outbox flush, push re-subscribe).
if (role === "client") {
  import("./outbox-ui.js").then((m) => m.start()).catch(() => {});
  import("./push.js").then((m) => m.onAppOpen?.()).catch(() => {});
}

// Install hint: the browser's prompt where there is one, instructions on iOS.
const hint = document.getElementById("install-hint");
const standalone =
  window.matchMedia("(display-mode: standalone)").matches || window.navigator.standalone === true;
const dismissed = () => localStorage.getItem("install-dismissed") === "1";
let deferred = null;

window.addEventListener("beforeinstallprompt", (event) => {
  event.preventDefault();
  deferred = event;
  if (!dismissed() && role) {
    document.getElementById("install-button").hidden = false;
    hint.hidden = false;
  }
});
if (role && !standalone && !dismissed() && /iPhone|iPad|iPod/.test(navigator.userAgent)) {
  document.getElementById("install-ios").hidden = false;
  hint.hidden = false;
}
document.getElementById("install-button")?.addEventListener("click", async () => {
  if (!deferred) return;
  deferred.prompt();
  await deferred.userChoice;
  deferred = null;
  hint.hidden = true;
});
document.getElementById("install-dismiss")?.addEventListener("click", () => {
  localStorage.setItem("install-dismissed", "1");
  hint.hidden = true;
});

// Copy-to-clipboard buttons and confirm-before-submit forms.
document.querySelectorAll("[data-copy]").forEach((btn) => {
  btn.addEventListener("click", async () => {
    const input = document.querySelector(btn.dataset.copy);
    try {
      await navigator.clipboard.writeText(input.value);
      btn.textContent = "Copied";
    } catch {
      input.select();
    }
  });
});
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});
