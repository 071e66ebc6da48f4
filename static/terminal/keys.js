// The keys: the keypad on screen and the keyboard (digits, Enter, Escape, Backspace, F1–F5),
// the keys every screen has (重印, 送纸), and the keyboard-wedge card reader, whose swipes
// arrive as keys too. press() hands a key to the screen on display.
import { $, t } from "./page.js";
import { api } from "./api.js";
import { message, show } from "./display.js";
import { printer } from "./printer.js";
import { printJob } from "./printing.js";
import { lastSlip } from "./receipt.js";
import { standby, state } from "./state.js";

export function press(key, value) {
  if (state.busy || !state.screen) return;
  const handler = state.screen.keys[key] || (/^[0-9]$/.test(key) && state.screen.keys.digit) ||
    (api.token && everywhere[key]);
  if (handler) handler(value === undefined ? key : value);
}

// Keys the manual gives on every screen, where a screen has nothing else for them.
// With a receipt printer 重印 prints the terminal's last receipt again (or the settlement
// slip, when that is what failed to print) and 送纸 feeds paper; without one 重印 shows the
// terminal's last receipt (the server's, as the printer would print it) as a page, for the
// browser to print.
// A print asked for mid-flow comes back to the screen as it was, with what was typed.
const backHere = () => {
  const here = state.screen;
  return here && here.name !== "standby" ? () => show(here) : standby;
};
const everywhere = {
  reprint: () => {
    const failed = printer.state.printer === "failed" && printer.state.job;
    if (failed && failed.kind === "settlement") return printJob("settlement", backHere());
    if (printer.configured()) return printJob("reprint", backHere());
    return lastSlip(backHere());
  },
  feed: () => (printer.configured() ? printJob("feed", backHere())
    : message({ name: "no-printer", title: t("送纸"), lines: [t("未配置打印机")] })),
};

const KEYBOARD = {
  Enter: "enter", Escape: "cancel", Backspace: "correct",
  F1: "func", F2: "reprint", F3: "feed", F4: "trade", F5: "settle",
};

// A keyboard-wedge card reader types the stripe: track 1 "%B…^NAME^YYMM…?" and/or track 2
// ";PAN=YYMM…?", fast, ending in Enter. Such a burst is a swipe, never digits typed by the
// cashier: it begins with a sentinel no key of the POS types.
const wedge = {
  buffer: null,
  last: 0,
  gapMs: 80,
  feed(event) {
    const now = performance.now();
    if (this.buffer === null) {
      if (event.key !== "%" && event.key !== ";") return false;
      this.buffer = "";
    } else if (now - this.last > this.gapMs) {
      this.buffer = null;  // too slow for a reader: a half swipe
      misread();
      return true;
    }
    this.last = now;
    if (event.key === "Enter") {
      const text = this.buffer;
      this.buffer = null;
      const card = parseStripe(text);
      if (card) press("swipe", card);
      else misread();
    } else if (event.key.length === 1) {
      this.buffer += event.key;
    }
    return true;
  },
};

function parseStripe(text) {
  const track2 = /;([0-9]{8,19})=([0-9]{2})([0-9]{2})[0-9]*\?/.exec(text);
  const track1 = /%B([0-9]{8,19})\^[^^]*\^([0-9]{2})([0-9]{2})[^?]*\?/.exec(text);
  const found = track2 || track1;
  if (!found) return null;
  if (track1 && track2 && track1[1] !== track2[1]) return null;
  return { card_no: found[1], expiry: `${found[3]}/${found[2]}` };
}

export function misread() {
  const back = state.screen;
  message({
    name: "misread", title: t("刷卡"), tone: "error", lines: [t("请重新刷卡")],
    onEnter: () => show(back), onCancel: () => show(back),
  });
}

// Called once, by main.js: importing this module attaches nothing.
export function listen() {
  document.addEventListener("keydown", (event) => {
    if (wedge.feed(event)) {
      event.preventDefault();
      return;
    }
    const key = /^[0-9]$/.test(event.key) ? event.key : KEYBOARD[event.key];
    if (!key) return;
    event.preventDefault();
    press(key);
  });

  for (const button of document.querySelectorAll("[data-key]")) {
    button.addEventListener("click", () => press(button.dataset.key));
  }
  // The receipt page's own buttons: 打印 (the browser's print dialog) and 返回.
  $("slip-print").addEventListener("click", () => window.print());
  $("slip-close").addEventListener("click", () => press("cancel"));
  $("slip-printer").addEventListener("click", () => press("reprint"));
}
