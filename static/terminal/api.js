// The JSON API (/api/v1) with this tab's bearer token, and the outbox: the one transaction
// request kept until it is answered.
import { t } from "./page.js";
import { store } from "./state.js";
import { status } from "./status.js";

const CALL_MS = 15000;

export const api = {
  token: store.getItem("kkt.token"),
  // 系统设置 from an operator's session: the system operator's short-lived session (POST
  // /session/system), which every call uses until it is dropped. Kept in memory only: a
  // reload is back in the operator's session.
  elevated: null,
  async call(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    const token = this.elevated || this.token;
    if (token) headers.Authorization = "Bearer " + token;
    let response;
    // A Wi-Fi that drops may neither answer nor fail: after CALL_MS the call counts as
    // unanswered (which a transaction sent already is treated as: sent again, never offline).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), CALL_MS);
    try {
      response = await fetch("/api/v1" + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (err) {
      status.online(false);
      throw { error: "offline", message: t("网络中断，请稍后重试") };
    } finally {
      clearTimeout(timer);
    }
    status.online(true);
    const data = response.status === 204 ? {} : await response.json();
    if (!response.ok) throw data;
    return data;
  },
  // Whether the server answers now (正在建立连接…): asked before a transaction is sent, so
  // that a transaction is offered offline only when it was never sent.
  async reachable(ms = 3000) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ms);
    try {
      const response = await fetch("/api/v1/health", { signal: controller.signal, cache: "no-store" });
      status.online(response.ok);
      return response.ok;
    } catch (err) {
      status.online(false);
      return false;
    } finally {
      clearTimeout(timer);
    }
  },
  signedIn(token) {
    this.token = token;
    store.setItem("kkt.token", token);
  },
  signOut() {
    this.drop();
    this.token = null;
    store.removeItem("kkt.token");
  },
  elevate(token) {
    this.elevated = token;
  },
  // Back to the operator's session; the system operator's is signed out on the way.
  drop() {
    const token = this.elevated;
    if (!token) return;
    this.elevated = null;
    fetch("/api/v1/session", { method: "DELETE", headers: { Authorization: "Bearer " + token } })
      .catch(() => {});  // unanswered, it ends by itself within minutes
  },
};

// A transaction request is created once, when the cashier confirms, and kept (with its
// request_id) until its answer arrives (or, never sent, until it is given up or made offline): sending it again, after a double tap, a slow
// network or a reload, can only be answered with the same result. It holds the PIN, so it
// is kept in this tab's sessionStorage (gone with the browser), never in localStorage.
export const outbox = {
  key: "kkt.pending",
  create(path, body) {
    const request = { path, body: { ...body, request_id: newRequestId() }, sent: false };
    store.setItem(this.key, JSON.stringify(request));
    return request;
  },
  pending() {
    const text = store.getItem(this.key);
    return text ? JSON.parse(text) : null;
  },
  // Marked `sent` (and kept so) before it leaves: one that may have reached the server is
  // never offered offline, whatever the network did (transactions.js).
  async send(request) {
    if (request.sent === false) {
      request.sent = true;
      store.setItem(this.key, JSON.stringify(request));
    }
    try {
      const record = await api.call("POST", request.path, request.body);
      this.done();
      return record;
    } catch (err) {
      // Answered with a refusal: it claimed nothing, forget it. Not answered: keep it, to
      // send again as it is.
      if (err.error !== "offline") this.done();
      throw err;
    }
  },
  done() {
    store.removeItem(this.key);
  },
};

function newRequestId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
