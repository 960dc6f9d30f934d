// What the other client pages show of the offline outbox: a banner (waiting, needs a sign-in, refused)
// and a warning before signing out with unsent items. Loaded lazily by app.js, so the check-in page
// (which needs neither) stays small.
import { t, tn } from "./i18n.js";
import * as outbox from "./outbox.js";

// Signing out, everywhere, or erasing the account: the person's own queued items go with them.
const SIGN_OUT_FORMS = [
  'form[action="/signout"]',
  'form[action="/account/sessions/revoke-all"]',
  'form[action="/account/delete"]:has(input[name="confirm"][value="yes"])',
].join(", ");
let sentHere = 0; // sent since this page opened: items that waited for their owner (issue 21.3)
// Another person's item waits this long for its owner to sign in on this phone again (issue 21.3); then
// a signed-in page removes its answers and note and keeps only that it expired, to tell its owner at
// their next sign-in. A week covers the usual weekly session; longer would leave a note on a shared phone.
const EXPIRES_MS = 7 * 24 * 60 * 60 * 1000;

// Expire other people's week-old items; `viewer` is whoever this signed-in page names.
async function expireOthers(viewer) {
  const old = (await outbox.core.all().catch(() => [])).filter(
    (i) => i.owner !== viewer && !i.expired && Date.now() - Date.parse(i.queuedAt) > EXPIRES_MS,
  );
  const kept = (i) => ({ key: i.key, owner: i.owner, queuedAt: i.queuedAt, parked: true, expired: true });
  await Promise.all(old.map((i) => outbox.core.put(kept(i)))).catch(() => {});
}

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
  sentHere += summary.sent.length;
  if (sentHere) {
    line(tn("%(n)s check-in saved on this phone was sent.", "%(n)s check-ins saved on this phone were sent.", sentHere));
  }
  for (const item of summary.unsent.filter((i) => i.expired)) {
    const day = new Date(item.queuedAt).toLocaleDateString(document.documentElement.lang || undefined);
    const p = line(t("A check-in saved on this phone on %(day)s was not sent within 7 days, so it was removed from the phone.", { day }) + " ");
    p.append(dismissButton(item.key));
  }
  for (const item of summary.unsent.filter((i) => !i.expired)) {
    const p = line(t("A saved check-in could not be sent: %(error)s", { error: item.error }) + " ");
    p.append(dismissButton(item.key));
  }
  box.hidden = !box.childElementCount;
}

function dismissButton(key) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn btn-quiet";
  b.textContent = t("Dismiss");
  b.addEventListener("click", () => outbox.dismiss(key));
  return b;
}

// "1 check-in not sent yet." in the page's language: the server gave every plural form, we pick one.
function unsentWarning(meta, n) {
  const form = new Intl.PluralRules(document.documentElement.lang || "en").select(n);
  const text = meta.dataset[`unsent${form[0].toUpperCase()}${form.slice(1)}`] || meta.dataset.unsentOther;
  return `${text.replace("{n}", n)} ${meta.dataset.unsentConfirm}`;
}

// Signing out with unsent items: say so first, then remove them: only this person's; another person's
// wait for them (the server clears the HTTP cache, not the phone's storage).
function guardSignOut() {
  const meta = outbox.ownerMeta();
  if (!meta) return;
  document.querySelectorAll(SIGN_OUT_FORMS).forEach((form) =>
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const mine = (await outbox.core.all().catch(() => [])).filter((i) => i.owner === meta.content);
      if (mine.length && !window.confirm(unsentWarning(meta, mine.length))) return;
      await Promise.all(mine.map((i) => outbox.core.remove(i.key))).catch(() => {});
      outbox.remember(null);
      form.submit();
    }),
  );
}

export async function start() {
  window.addEventListener("outbox", (e) => banner(e.detail));
  guardSignOut();
  const meta = outbox.ownerMeta();
  if (meta) await expireOthers(meta.content);
  return outbox.start();
}
