// The terminal page's service worker (离线交易): it keeps the page, its modules, its styles and
// its icon in the browser, so that the page opens, and reloads, while the server cannot be
// reached. The API is never answered from here: a sale made offline is the page's to keep
// (IndexedDB, static/terminal/offline-store.js) and to upload.
//
// The server writes this file (kakatong/web/terminal/routes.py) with the list of the files and
// a cache name made of their content: a new release is a new worker, which fetches them all
// again before it takes over, and drops the old copies.
const CACHE = "{{ cache }}";
const ASSETS = {{ assets|safe }};
const PAGE = "{{ page }}";
// How long the page waits for the server before it opens its kept copy (a Wi-Fi that drops
// may neither answer nor fail at once).
const PAGE_WAIT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(ASSETS);
    // The page too, in Chinese: a terminal that has only ever been opened once still opens.
    await cache.add(PAGE);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE && name.startsWith("kkt-terminal-")) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

// The page itself: the server's, fresh, when it answers (and kept for next time); the kept one
// when it does not. Its URL keeps its ?lang=, so an English terminal opens in English.
async function page(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  const key = url.pathname + url.search;
  try {
    const answer = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), PAGE_WAIT_MS)),
    ]);
    if (answer.ok) {
      await cache.put(key, answer.clone());
      return answer;
    }
    // The server answers but cannot serve the page (restarting, upgrading): the kept one.
    if (answer.status >= 500) return (await cache.match(key)) || (await cache.match(PAGE)) || answer;
    return answer;
  } catch (err) {
    const kept = (await cache.match(key)) || (await cache.match(PAGE));
    if (kept) return kept;
    throw err;
  }
}

// The page's files: the kept copy of this release, or the server's.
async function asset(request) {
  const cache = await caches.open(CACHE);
  return (await cache.match(request, { ignoreSearch: true })) || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === PAGE) {
    event.respondWith(page(request));
  } else if (ASSETS.includes(url.pathname)) {
    event.respondWith(asset(request));
  }
});
