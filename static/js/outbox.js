// The page's side of the offline outbox (DESIGN 1, Client 4): queue a check-in for the person who filled
// it, and flush on app open, on `online`, on a timer while open, on a message from the service worker and
// by Background Sync where the browser has it. The store and its rules are outbox-core.js, which the
// service worker runs too. The banner and the sign-out warning are outbox-ui.js (not on the check-in page).
import "./outbox-core.js";

export const core = globalThis.AttuneOutbox;
const SYNC_TAG = "attune-outbox";
const TIMER_MS = 15000;
const OWNER_KEY = "attune-owner";

export const ownerMeta = () => document.querySelector('meta[name="attune-owner"]');

// Remember who is signed in here, for offline use; `null` forgets (nobody is: issue 21.3).
export function remember(owner) {
  try {
    if (owner) localStorage.setItem(OWNER_KEY, owner);
    else localStorage.removeItem(OWNER_KEY);
  } catch {
    // storage off: the signed-in pages still name the owner
  }
}

// Who is signed in, as the server says now ({status, owner, token}); a 401 forgets the last person.
export async function signedIn() {
  const who = await core.session();
  if (who.status === 200 || who.status === 401) remember(who.owner);
  return who;
}

// Who this phone's signed-in pages last named (the check-in page is a shared shell that names nobody).
export function knownOwner() {
  const meta = ownerMeta();
  if (meta) remember(meta.content);
  try {
    return meta?.content || localStorage.getItem(OWNER_KEY);
  } catch {
    return meta?.content || null;
  }
}

let inflight = null;

// Single flight: a second caller waits for the running flush instead of sending the same items twice.
export function flush() {
  if (!inflight) inflight = run().finally(() => (inflight = null));
  return inflight;
}

// The core's result, plus what this page may show: only the viewer's own items, never another person's.
async function run() {
  const { items, ...result } = await core.flush();
  if (result.owner) remember(result.owner);
  const viewer = result.owner || knownOwner();
  const own = items.filter((i) => viewer && i.owner === viewer);
  const summary = {
    ...result,
    waiting: own.filter((i) => !i.parked).length,
    unsent: own.filter((i) => i.parked),
  };
  // Background Sync waits for a connection; other failures are retried by the timer and the next open
  // (registering after every flush would ping-pong with the worker, which tells pages when it is done).
  if (summary.waiting && summary.stoppedBy === 0) registerSync();
  window.dispatchEvent(new CustomEvent("outbox", { detail: summary }));
  return summary;
}

function registerSync() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.ready.then((reg) => reg.sync?.register(SYNC_TAG)).catch(() => {});
}

// Keep `body` (it carries its own idempotency key) for the person signed in here and try to send it.
// Signed out: nothing is kept, {unowned} (issue 21.3); offline: the person last confirmed here.
// Returns {sent, signin, rejected, error} or {unowned}.
export async function enqueue(body, url = "/api/check-ins") {
  const who = await signedIn();
  const owner = who.status === 200 ? who.owner : who.status === 401 ? null : knownOwner();
  if (!owner) return { unowned: true };
  const key = body.idempotency_key;
  await core.put({ key, url, owner, body: { ...body, owner }, queuedAt: new Date().toISOString() });
  const summary = await flush();
  const parked = summary.parked.find((p) => p.key === key);
  const left = await core.all().catch(() => [{ key }]);
  return {
    sent: summary.sent.includes(key) || !left.some((i) => i.key === key),
    signin: summary.signedOut,
    rejected: Boolean(parked),
    error: parked?.error || "",
  };
}

export async function dismiss(key) {
  await core.remove(key);
  return flush();
}

let started = false;

export function start() {
  if (started) return flush();
  started = true;
  window.addEventListener("online", () => flush());
  setInterval(() => flush(), TIMER_MS);
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data?.type === "flush-outbox") flush();
  });
  return flush();
}
