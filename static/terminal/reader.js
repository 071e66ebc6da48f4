// The serial card reader (KAKATONG_MSR) as the page hears of it: its swipes, and the news of
// the reader and of the receipt printer for the status bar, streamed from the server (or
// polled) while an operator is signed in.
import { api } from "./api.js";
import { misread, press } from "./keys.js";
import { printer } from "./printer.js";
import { status } from "./status.js";

// A reader on the server's serial port (KAKATONG_MSR) sends its swipes to this page, pushed
// as Server-Sent Events. They are read with fetch(): an EventSource cannot send the bearer
// token, and the token never goes into a URL. The server ends each stream after a while and
// the page reconnects; when it has no stream to spare (503) or streams keep failing, the
// page polls instead, and tries a stream again now and then. A swipe enters the current
// flow exactly as a keyboard-wedge swipe does.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const swipes = {
  token: null,  // the session the feed runs for; null: stopped
  controller: null,
  lastId: null,
  start() {
    if (!api.token || this.token === api.token) return;
    this.stop();
    this.token = api.token;
    this.run(this.token);
  },
  stop() {
    this.token = null;
    if (this.controller) this.controller.abort();
    this.controller = null;
  },
  async run(token) {
    let failures = 0;
    let polls = 0;
    let polling = false;
    while (this.token === token) {
      const began = Date.now();
      const outcome = polling ? await this.poll(token) : await this.stream(token);
      if (this.token !== token) return;
      if (outcome === "stop") {  // signed out or locked: started again on sign-in, unlock
        this.token = null;
        return;
      }
      if (outcome === "busy") {
        polling = true;
      } else if (outcome === "failed" || (!polling && Date.now() - began < 1000)) {
        failures += 1;
        if (failures >= 3) polling = true;
        await sleep(Math.min(30000, 500 * 2 ** failures));
      } else if (!polling) {
        failures = 0;  // ended as streams do: reconnect at once
      }
      if (polling && ++polls >= 30) {
        polling = false;
        polls = 0;
        failures = 0;
      }
    }
  },
  headers(token) {
    const headers = { Authorization: "Bearer " + token };
    return headers;
  },
  async stream(token) {
    const headers = this.headers(token);
    if (this.lastId !== null) headers["Last-Event-ID"] = String(this.lastId);
    this.controller = new AbortController();
    let response;
    try {
      response = await fetch("/api/v1/terminal/swipes/stream",
        { headers, cache: "no-store", signal: this.controller.signal });
    } catch (err) {
      return "failed";
    }
    if (response.status === 503) return "busy";
    if (response.status === 401 || response.status === 423) return "stop";
    if (!response.ok || !response.body) return "failed";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "ended";
        text = (text + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = text.indexOf("\n\n")) !== -1) {
          const block = text.slice(0, cut);
          text = text.slice(cut + 2);
          if (this.token === token) this.dispatch(block);
        }
      }
    } catch (err) {
      return "failed";
    }
  },
  // One event of the stream: "field: value" lines; a line starting with ":" is a comment.
  dispatch(block) {
    let kind = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "event") kind = value;
      else if (name === "data") data += (data ? "\n" : "") + value;
      else if (name === "id" && /^[0-9]+$/.test(value)) this.lastId = Number(value);
    }
    if (data) this.handle(kind, JSON.parse(data));
  },
  handle(kind, data) {
    if (kind === "status") return status.reader(data.reader);
    if (kind === "printer") return printer.update(data);
    if (kind === "retry") return misread(data.count || 1);
    if (kind === "swipe") {
      // As parseStripe gives it: the expiry MM/YY from the stripe's YYMM.
      const e = data.expires || "";
      press("swipe", { card_no: data.card_no, expiry: e ? `${e.slice(2, 4)}/${e.slice(0, 2)}` : "" });
    }
  },
  async poll(token) {
    const began = Date.now();
    const after = this.lastId === null ? "" : `?after=${this.lastId}`;
    let response;
    try {
      this.controller = new AbortController();
      response = await fetch("/api/v1/terminal/swipes" + after,
        { headers: this.headers(token), cache: "no-store", signal: this.controller.signal });
      if (response.status === 401 || response.status === 423) return "stop";
      if (!response.ok) return "failed";
      const data = await response.json();
      if (this.token !== token) return "stop";
      status.reader(data.reader);
      printer.update(data.printer);
      for (const swipe of data.swipes) this.handle(swipe.event, swipe);
      this.lastId = data.last_id;
    } catch (err) {
      return "failed";
    }
    await sleep(Math.max(0, 1000 - (Date.now() - began)));
    return "ended";
  },
};
