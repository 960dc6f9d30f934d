// Attune service worker, scope "/". Precaches only the app shell; never caches signed-in HTML or JSON.
const VERSION = "attune-v1";
const SHELL = [
  "/offline",
  "/check-in",
  "/manifest.json",
  "/static/css/app.css",
  "/static/js/app.js",
  "/static/js/api.js",
  "/static/js/checkin.js",
  "/static/js/outbox.js",
  "/static/js/push.js",
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
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(request, url));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(request)));
  }
});

// Network first; offline, a shell page comes from the cache (its query string carries the context),
// anything else gets the offline page.
async function navigate(request, url) {
  try {
    return await fetch(request);
  } catch (err) {
    const cache = await caches.open(VERSION);
    if (SHELL_PAGES.has(url.pathname)) {
      const hit = await cache.match(url.pathname);
      if (hit) return hit;
    }
    return (await cache.match("/offline")) || Response.error();
  }
}

// Web Push: always show a notification (browsers revoke permission after silent pushes).
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = data.title || "Attune";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || "Time for a quick check-in",
      tag: data.tag || "attune",
      renotify: false,
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/badge-96.png",
      data: { url: safeUrl(data.url) },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = safeUrl(event.notification.data?.url);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin === self.location.origin && "focus" in client) {
          await client.focus();
          return client.navigate(target);
        }
      }
      return self.clients.openWindow(target);
    })(),
  );
});

function safeUrl(raw) {
  try {
    const url = new URL(raw || "/", self.location.origin);
    return url.origin === self.location.origin ? url.pathname + url.search : "/";
  } catch {
    return "/";
  }
}

// Background Sync (Chromium): ask an open page to flush the outbox, or flush from here.
self.addEventListener("sync", (event) => {
  if (event.tag === "attune-outbox") {
    event.waitUntil(notifyClients());
  }
});

async function notifyClients() {
  const windows = await self.clients.matchAll({ type: "window" });
  windows.forEach((c) => c.postMessage({ type: "flush-outbox" }));
}
