// What the terminal keeps in the browser for 离线交易 (IndexedDB, which survives a reload, a
// closed tab and a power cut): the offline configuration and the terminal's record as last
// fetched online, its block of offline trace numbers, the last sign-in, and the sales made
// offline until they are uploaded. A PIN typed offline is never kept: it is sealed at once to
// the server's public key (seal), and only the server opens it.
const NAME = "kakatong-offline";
// Written through to the disk before the transaction completes (Chrome's default is
// "relaxed": in the OS's buffers only): a sale shown as kept survives a power cut.
const STRICT = { durability: "strict" };

let opened = null;
function database() {
  if (!opened) {
    // Kept as the site's own data, not as a cache the browser may clear when space is short.
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("meta");  // key -> value
        db.createObjectStore("sales", { keyPath: "key" });  // "10000001:000123"
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

const answer = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});
const finished = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = tx.onabort = () => reject(tx.error);
});

export const keep = {
  async get(key) {
    const db = await database();
    return answer(db.transaction("meta").objectStore("meta").get(key));
  },
  async put(key, value) {
    const db = await database();
    const tx = db.transaction("meta", "readwrite", STRICT);
    tx.objectStore("meta").put(value, key);
    return finished(tx);
  },
  // The block of offline trace numbers handed to the terminal: { next, last }.
  traces: (terminalId) => keep.get(`traces:${terminalId}`),
  setTraces: (terminalId, block) => keep.put(`traces:${terminalId}`, block),
  // The next offline trace number, taken for good in one transaction: a number is used once,
  // even when the sale it was taken for is never kept (the tab closed in between). null when
  // the block is used up.
  async takeTrace(terminalId) {
    const db = await database();
    const tx = db.transaction("meta", "readwrite", STRICT);
    const meta = tx.objectStore("meta");
    const key = `traces:${terminalId}`;
    const block = await answer(meta.get(key));
    if (!block || block.next > block.last) {
      tx.abort();
      return null;
    }
    meta.put({ next: block.next + 1, last: block.last }, key);
    await finished(tx);
    return block.next;
  },
  // The sales not yet uploaded, of one terminal, in the order they were made.
  async sales(terminalId) {
    const db = await database();
    const all = await answer(db.transaction("sales").objectStore("sales").getAll());
    return all.filter((sale) => sale.item.terminal_id === terminalId)
      .sort((a, b) => a.item.offline_trace_no - b.item.offline_trace_no);
  },
  async forget(key) {
    const db = await database();
    const tx = db.transaction("meta", "readwrite", STRICT);
    tx.objectStore("meta").delete(key);
    return finished(tx);
  },
  // A sale is kept the moment the cashier confirms it, before anything is shown.
  async addSale(sale) {
    const db = await database();
    const tx = db.transaction("sales", "readwrite", STRICT);
    tx.objectStore("sales").add(sale);
    return finished(tx);
  },
  async removeSale(key) {
    const db = await database();
    const tx = db.transaction("sales", "readwrite", STRICT);
    tx.objectStore("sales").delete(key);
    return finished(tx);
  },
};

// ---------------------------------------------------------------- sealing a PIN

const encoder = new TextEncoder();
// kakatong/domain/offline.py opens it: ECDH on P-256 with a key made for this PIN alone,
// HKDF-SHA256 (a salt of zeros, as RFC 5869 reads "no salt"), AES-256-GCM with the sale it is
// for as associated data (sealedFor), so it opens for no other sale, nor for this one changed.
const SEALED_FIELDS = ["terminal_id", "offline_trace_no", "card_no", "type", "amount", "points",
  "service_code", "sold_at"];
export const sealedFor = (item) => SEALED_FIELDS
  .map((name) => (item[name] === undefined || item[name] === null ? "" : String(item[name])))
  .join(":");
const INFO = encoder.encode("kakatong offline pin v1");

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export async function seal(pin, publicKey, boundTo) {
  const curve = { name: "ECDH", namedCurve: "P-256" };
  const server = await crypto.subtle.importKey("spki", fromBase64(publicKey), curve, false, []);
  const mine = await crypto.subtle.generateKey(curve, true, ["deriveBits"]);
  const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: server },
    mine.privateKey, 256);
  const material = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: INFO },
    material, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(boundTo) }, key, encoder.encode(pin));
  const point = await crypto.subtle.exportKey("raw", mine.publicKey);
  return `v1.${base64url(point)}.${base64url(iv)}.${base64url(sealed)}`;
}
