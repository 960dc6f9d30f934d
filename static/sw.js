// Attune service worker, scope "/". Precaches only the app shell; never caches signed-in HTML or JSON.
// The offline outbox is the page's own code (a classic script: see the reason at its top).
importScripts("/static/js/outbox-core.js");

const VERSION = "attune-v2";
const SHELL = [
  "/offline",
  "/check-in",
  "/manifest.json",
  "/static/css/app.css",
  "/static/js/app.js",
  "/static/js/api.js",
  "/static/js/checkin.js",
  "/static/js/outbox.js",
  "/static/js/outbox-core.js",
  "/static/js/outbox-ui.js",
  "/static/js/onboarding.js",
  "/static/js/push.js",
  "/static/js/base64url.js",
  "/static/css/checkin.css",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
];
const SHELL_PAGES = new Set(["/offline", "/check-in"]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(VERSION).then((cache) =>
      Promise.all(SHELL.map((url) => cache.add(new Request(url, { cache: "reload" })).catch(() => null))),
    ),
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keys = await caches.keys();
      await Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k)));
      const cache = await caches.open(VERSION); // drop hashed files an earlier deploy precached
      const stale = (await cache.keys()).filter((r) => !SHELL.includes(new URL(r.url).pathname));
      await Promise.all(stale.map((r) => cache.delete(r)));
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(event, url));
  } else if (url.pathname.startsWith("/static/") && SHELL.includes(url.pathname)) {
    event.respondWith(cacheFirst(url.pathname));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(staleWhileRevalidate(event, url.pathname));
  }
});

// Static shell files have content-hashed names (/sw.js is served with them filled in): a name's bytes
// never change, so a cached copy needs no check with the server. A new deploy means new names, a new
// worker, and a new precache.
async function cacheFirst(path) {
  const cache = await caches.open(VERSION);
  const hit = await cache.match(path);
  if (hit) return hit;
  const res = await fetch(path);
  if (res.ok) await cache.put(path, res.clone());
  return res;
}

// Shell assets: answer from the cache at once, refresh it in the background so a new deploy
// reaches the phone on the next open without a new service worker version.
async function staleWhileRevalidate(event, path) {
  const cache = await caches.open(VERSION);
  const hit = await cache.match(path);
  const refresh = fetch(path, { cache: "no-cache" }).then((res) => {
    if (res.ok) cache.put(path, res.clone());
    return res;
  });
  if (!hit) return refresh;
  event.waitUntil(refresh.catch(() => null));
  return hit;
}

// Network first. A shell page (no personal data) refreshes its cached copy; offline it comes from
// the cache (its query string carries the context); anything else gets the offline page.
async function navigate(event, url) {
  const cache = await caches.open(VERSION);
  try {
    const response = await fetch(event.request);
    if (SHELL_PAGES.has(url.pathname) && response.ok) {
      event.waitUntil(cache.put(url.pathname, response.clone()));
    }
    return response;
  } catch (err) {
    if (SHELL_PAGES.has(url.pathname)) {
      const hit = await cache.match(url.pathname);
      if (hit) return hit;
    }
    return (await cache.match("/offline")) || Response.error();
  }
}

// Web Push: always show a notification, inside waitUntil (browsers revoke permission after silent
// pushes). The payload is generic by design; the tag (per appointment and phase) makes a resend replace
// the notification already shown instead of stacking a second one.
self.addEventListener("push", (event) => {
  event.waitUntil(showReminder(event.data));
});

async function showReminder(message) {
  let data = {};
  try {
    data = message ? message.json() : {};
  } catch {
    data = {};
  }
  const text = (value, fallback) => (typeof value === "string" && value ? value.slice(0, 200) : fallback);
  return self.registration.showNotification(text(data.title, "Attune"), {
    body: text(data.body, ""), // the server always sends the text in the client's language
    tag: text(data.tag, "attune"),
    renotify: false,
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/badge-96.png",
    data: { url: safeUrl(data.url) },
  });
}

// Open the exact check-in: reuse an Attune window (navigating it there) or open a new one.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openAt(safeUrl(event.notification.data?.url)));
});

async function openAt(target) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const ours = windows.filter((c) => new URL(c.url).origin === self.location.origin);
  const exact = ours.find((c) => new URL(c.url).pathname + new URL(c.url).search === target);
  if (exact) return focus(exact);
  // navigate() works only on windows this worker controls; others are left alone.
  const controlled = ours.find((c) => c.frameType !== "nested" && "navigate" in c);
  if (controlled) {
    try {
      const moved = await controlled.navigate(target);
      if (moved) return focus(moved);
    } catch {
      // not controlled by this worker: fall through to a new window
    }
  }
  return self.clients.openWindow(target);
}

async function focus(client) {
  try {
    return await client.focus();
  } catch {
    return client; // focusing needs the click's user activation; the page is still there
  }
}

function safeUrl(raw) {
  try {
    const url = new URL(raw || "/", self.location.origin);
    return url.origin === self.location.origin ? url.pathname + url.search : "/";
  } catch {
    return "/";
  }
}

// Background Sync (Chromium): flush the outbox here with the page's code and rules, then tell open pages
// so they refresh what they show. Anything left to retry fails the sync, so the browser fires it again.
self.addEventListener("sync", (event) => {
  if (event.tag === "attune-outbox") event.waitUntil(syncOutbox());
});

async function syncOutbox() {
  try {
    const result = await AttuneOutbox.flush();
    if (result.retry) throw new Error("outbox: items wait for a retry");
  } finally {
    await notifyClients();
  }
}

async function notifyClients() {
  const windows = await self.clients.matchAll({ type: "window" });
  windows.forEach((c) => c.postMessage({ type: "flush-outbox" }));
}
