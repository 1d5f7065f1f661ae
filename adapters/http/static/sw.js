"use strict";
// The PWA's service worker: keeps the pages' shell (HTML, script, style, vendored libraries, icons)
// so the app opens offline and says so; the API and the WebSocket are never cached.
const CACHE = "rustyclaw-shell-v1";
const SHELL = [
  "/", "/control", "/manifest.webmanifest",
  "/static/app.css", "/static/common.js", "/static/chat.js", "/static/control.js",
  "/static/vendor/marked.umd.js", "/static/vendor/purify.min.js", "/static/vendor/highlight.min.js",
  "/static/vendor/hljs-github.min.css", "/static/vendor/hljs-github-dark.min.css",
  "/static/icons/icon.svg", "/static/icons/icon-192.png", "/static/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// Network first (a new release shows at once), the cached shell when the network is gone.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (!SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname)),
  );
});
