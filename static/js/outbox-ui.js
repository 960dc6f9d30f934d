// What the other client pages show of the offline outbox: a banner (waiting, needs a sign-in, refused)
// and a warning before signing out with unsent items. Loaded lazily by app.js, so the check-in page
// (which needs neither) stays small.
import { t, tn } from "./i18n.js";
import * as outbox from "./outbox.js";

const SIGN_OUT_FORMS = 'form[action="/signout"], form[action="/account/sessions/revoke-all"]';

// A small banner on every client page: what is waiting, what needs a sign-in, what was refused.
function banner(summary) {
  const main = document.getElementById("main");
  if (!main) return;
  let box = document.getElementById("outbox-banner");
  if (!box) {
    box = document.createElement("div");
    box.id = "outbox-banner";
    box.className = "notice";
    box.setAttribute("role", "status");
    main.prepend(box);
  }
  box.replaceChildren();
  const line = (text) => {
    const p = document.createElement("p");
    p.textContent = text;
    box.append(p);
    return p;
  };
  if (summary.signedOut && summary.waiting) {
    const p = line(t("A check-in is saved on this phone.") + " ");
    const a = document.createElement("a");
    a.href = "/signin?next=/home";
    a.textContent = t("Sign in to send it");
    p.append(a);
  } else if (summary.waiting) {
    line(tn("%(n)s check-in saved on this phone, waiting to send.", "%(n)s check-ins saved on this phone, waiting to send.", summary.waiting));
  }
  for (const item of summary.unsent) {
    const p = line(t("A saved check-in could not be sent: %(error)s", { error: item.error }) + " ");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-quiet";
    b.textContent = t("Dismiss");
    b.addEventListener("click", () => outbox.dismiss(item.key));
    p.append(b);
  }
  box.hidden = !box.childElementCount;
}

// "1 check-in not sent yet." in the page's language: the server gave every plural form, we pick one.
function unsentWarning(meta, n) {
  const form = new Intl.PluralRules(document.documentElement.lang || "en").select(n);
  const text = meta.dataset[`unsent${form[0].toUpperCase()}${form.slice(1)}`] || meta.dataset.unsentOther;
  return `${text.replace("{n}", n)} ${meta.dataset.unsentConfirm}`;
}

// Signing out with unsent items: say so first, then remove them (the server also clears site storage).
function guardSignOut() {
  const meta = outbox.ownerMeta();
  if (!meta) return;
  document.querySelectorAll(SIGN_OUT_FORMS).forEach((form) =>
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const mine = (await outbox.core.all().catch(() => [])).filter((i) => i.owner === meta.content);
      if (mine.length && !window.confirm(unsentWarning(meta, mine.length))) return;
      await Promise.all(mine.map((i) => outbox.core.remove(i.key))).catch(() => {});
      form.submit();
    }),
  );
}

export function start() {
  window.addEventListener("outbox", (e) => banner(e.detail));
  guardSignOut();
  return outbox.start();
}
