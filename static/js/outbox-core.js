// The offline outbox, written once for the page and the service worker (DESIGN 1 and 4b; issues 8.4, 9.4):
// the IndexedDB store, whose items may be sent, and what each server answer does to an item.
//
// A classic script defining one global, AttuneOutbox: sw.js loads it with importScripts() and the page's
// outbox.js with a side-effect `import`. Not a module service worker: Firefox runs those only since 147
// (January 2026; Firefox ESR 140 cannot), and a browser without them is found out only after it has
// fetched and failed the worker, whereas importScripts() works wherever service workers do.
globalThis.AttuneOutbox = (() => {
  const DB_NAME = "attune";
  const STORE = "outbox";
  const WHO_URL = "/api/check-ins/owner";
  const TIMEOUT_MS = 30000;
  const DROP = "drop";
  const KEEP = "keep";
  const PARK = "park";

  // The one table. Drop an item only after a 2xx. Keep it (send again later) when time can fix the
  // answer: 401 (the client signs in again and it goes, DESIGN 4b), 408, 429, 5xx, a network error or a
  // redirect (status 0). Park every other 4xx: the same body would be refused again, so it stays on the
  // phone marked unsent with the server's reason until its owner dismisses it (SECURITY 37).
  function outcome(status) {
    if (status >= 200 && status < 300) return DROP;
    if (status === 401 || status === 408 || status === 429) return KEEP;
    if (status >= 400 && status < 500) return PARK;
    return KEEP;
  }

  function tx(mode, work) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(DB_NAME, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: "key" });
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const t = db.transaction(STORE, mode);
        const req = work(t.objectStore(STORE));
        t.oncomplete = () => {
          db.close();
          resolve(req.result);
        };
        t.onerror = t.onabort = () => {
          db.close();
          reject(t.error);
        };
      };
    });
  }

  const all = () => tx("readonly", (s) => s.getAll());
  const put = (item) => tx("readwrite", (s) => s.put(item));
  const remove = (key) => tx("readwrite", (s) => s.delete(key));

  // A hanging connection must not hold the single flight forever: give up and keep the item.
  async function answer(url, init) {
    try {
      const signal = AbortSignal.timeout?.(TIMEOUT_MS);
      const res = await fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual", signal, ...init });
      const data = await res.json().catch(() => ({}));
      return { status: res.status, data };
    } catch {
      return { status: 0, data: {} };
    }
  }

  // Who is signed in here ({status, owner, token}); the queue sends nothing without asking first.
  async function session() {
    const { status, data } = await answer(WHO_URL, {});
    return status === 200 ? { status, owner: data.owner, token: data.csrf_token } : { status };
  }

  const post = (item, token) =>
    answer(item.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(item.body),
    });

  // Send one item as `who`. A 400 may be a CSRF token from an older session: ask again and try once more.
  // A 409 on `owner` means the account changed since we asked: keep it; the next flush asks again.
  async function sendOne(item, who) {
    let res = await post(item, who.token);
    if (res.status === 400) {
      const again = await session();
      if (again.owner !== item.owner) return { what: KEEP, res: { status: again.status, data: {} } };
      res = await post(item, again.token);
    }
    const foreign = res.status === 409 && res.data.field === "owner";
    return { what: foreign ? KEEP : outcome(res.status), res };
  }

  // Send the signed-in person's waiting items, oldest first; never another person's, never an item
  // without an owner. Returns {owner, signedOut, retry, stoppedBy, sent: [key], parked: [{key, error}],
  // items}; `stoppedBy` is the status that made the rest wait (0: the server could not be reached).
  async function flush() {
    const result = { owner: null, signedOut: false, retry: false, stoppedBy: null, sent: [], parked: [] };
    const waiting = (await all().catch(() => [])).filter((i) => !i.parked && i.owner);
    if (waiting.length) {
      const who = await session();
      result.owner = who.owner || null;
      result.signedOut = who.status === 401;
      result.retry = who.status !== 200 && who.status !== 401;
      if (who.status !== 200) result.stoppedBy = who.status;
      const mine = waiting.filter((i) => i.owner === who.owner);
      mine.sort((a, b) => (a.queuedAt < b.queuedAt ? -1 : 1));
      for (const item of mine) {
        const { what, res } = await sendOne(item, who);
        if (what === DROP) {
          await remove(item.key);
          result.sent.push(item.key);
        } else if (what === PARK) {
          const error = res.data.error || String(res.status); // shown inside a translated sentence
          await put({ ...item, parked: true, error });
          result.parked.push({ key: item.key, error });
        } else {
          result.signedOut = res.status === 401;
          result.retry = res.status !== 401;
          result.stoppedBy = res.status;
          break;
        }
      }
    }
    result.items = await all().catch(() => []);
    return result;
  }

  return { outcome, all, put, remove, session, flush };
})();
