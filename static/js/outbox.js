// The offline outbox (DESIGN 1, Client 4): check-ins wait in IndexedDB until the server answers 2xx.
// An item is sent at once, or kept and flushed on app open, on `online`, on a timer while the app is open,
// on a message from the service worker, and by Background Sync where the browser has it.
import { csrfToken, forgetCsrfToken } from "./api.js";

const DB_NAME = "attune";
const STORE = "outbox";
const SYNC_TAG = "attune-outbox";
const TIMER_MS = 15000;

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "key" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const result = work(t.objectStore(STORE));
      t.oncomplete = () => resolve(result.result ?? result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export const all = () => tx("readonly", (s) => s.getAll());
const put = (item) => tx("readwrite", (s) => s.put(item));
const remove = (key) => tx("readwrite", (s) => s.delete(key));

function notify(detail) {
  window.dispatchEvent(new CustomEvent("outbox", { detail }));
}

// One POST. Outcomes: "sent" (2xx), "signin" (401), "rejected" (bad data), "retry" (offline, 5xx, 429).
async function send(item, retried = false) {
  let res;
  try {
    const token = await csrfToken();
    if (token === null) return { outcome: "signin" };
    res = await fetch(item.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(item.body),
    });
  } catch {
    return { outcome: "retry" };
  }
  if (res.ok) return { outcome: "sent" };
  if (res.status === 401) return { outcome: "signin" };
  let error = "";
  try {
    error = (await res.json()).error || "";
  } catch {
    error = "";
  }
  // A stale CSRF token (new session) also answers 400: fetch a fresh one and try once more.
  if (res.status === 400 && !retried) {
    forgetCsrfToken();
    return send(item, true);
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 408) {
    return { outcome: "rejected", error: error || `Error ${res.status}` };
  }
  return { outcome: "retry" };
}

let inflight = null;

// Single flight: a second caller waits for the running flush instead of sending the same items twice.
export function flush() {
  if (!inflight) inflight = doFlush().finally(() => (inflight = null));
  return inflight;
}

async function doFlush() {
  const summary = { sent: [], rejected: [], signin: false, waiting: 0 };
  let items;
  try {
    items = await all();
  } catch {
    return summary;
  }
  for (const item of items.filter((i) => !i.rejected)) {
    const { outcome, error } = await send(item);
    if (outcome === "sent") {
      await remove(item.key);
      summary.sent.push(item.key);
      continue;
    }
    if (outcome === "rejected") {
      // Parked, never silently dropped: the client sees why and dismisses it.
      await put({ ...item, rejected: true, error });
      summary.rejected.push({ key: item.key, error });
      continue;
    }
    summary.signin = outcome === "signin";
    break;
  }
  const left = await all().catch(() => []);
  summary.waiting = left.filter((i) => !i.rejected).length;
  summary.parked = left.filter((i) => i.rejected);
  if (summary.waiting) registerSync();
  notify(summary);
  return summary;
}

function registerSync() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.ready
    .then((reg) => reg.sync?.register(SYNC_TAG))
    .catch(() => {});
}

// Keep `body` (it carries its own idempotency key) and try to send it now.
// Returns {sent, signin, rejected, error}.
export async function enqueue(body, url = "/api/check-ins") {
  await put({ key: body.idempotency_key, url, body, queuedAt: new Date().toISOString() });
  const summary = await flush();
  const key = body.idempotency_key;
  const rejected = summary.rejected.find((r) => r.key === key);
  return {
    sent: summary.sent.includes(key) || (await isGone(key)),
    signin: summary.signin,
    rejected: Boolean(rejected),
    error: rejected?.error || "",
  };
}

async function isGone(key) {
  const items = await all().catch(() => [{ key }]);
  return !items.some((i) => i.key === key);
}

export async function dismiss(key) {
  await remove(key);
  return flush();
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
  if (summary.signin) {
    const p = line("A check-in is saved on this phone. ");
    const a = document.createElement("a");
    a.href = "/signin?next=/home";
    a.textContent = "Sign in to send it";
    p.append(a);
  } else if (summary.waiting) {
    line(`${summary.waiting} check-in(s) saved on this phone, waiting to send.`);
  }
  for (const item of summary.parked || []) {
    const p = line(`A saved check-in could not be sent: ${item.error} `);
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-quiet";
    b.textContent = "Dismiss";
    b.addEventListener("click", () => dismiss(item.key));
    p.append(b);
  }
  box.hidden = !box.childElementCount;
}

let started = false;

export function start({ showBanner = true } = {}) {
  if (started) return flush();
  started = true;
  if (showBanner) window.addEventListener("outbox", (e) => banner(e.detail));
  window.addEventListener("online", () => flush());
  setInterval(() => flush(), TIMER_MS);
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data?.type === "flush-outbox") flush();
  });
  return flush();
}
