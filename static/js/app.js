// Every page: service worker and small progressive enhancements (install: onboarding.js).

const role = document.body.dataset.role;

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

// Feature modules that run on every app open for signed-in clients (outbox flush, push re-subscribe).
if (role === "client") {
  import("./outbox-ui.js").then((m) => m.start()).catch(() => {});
  import("./push.js").then((m) => m.onAppOpen?.()).catch(() => {});
}

// Copy-to-clipboard buttons and confirm-before-submit forms.
document.querySelectorAll("[data-copy]").forEach((btn) => {
  btn.addEventListener("click", async () => {
    const input = document.querySelector(btn.dataset.copy);
    try {
      await navigator.clipboard.writeText(input.value);
      const { t } = await import("./i18n.js"); // only here: keeps the check-in page's first load small
      btn.textContent = t("Copied");
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
