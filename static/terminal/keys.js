// The keys: the keypad on screen and the keyboard (digits, Enter, Escape, Backspace, F1–F5),
// the keys every screen has (重印, 送纸), and the keyboard-wedge card reader, whose swipes
// arrive as keys too. press() hands a key to the screen on display; misread() says 请重新刷卡.
import { $, t } from "./page.js";
import { api } from "./api.js";
import { message, show } from "./display.js";
import { printer } from "./printer.js";
import { printJob } from "./printing.js";
import { lastSlip } from "./receipt.js";
import { standby, state } from "./state.js";
import { status } from "./status.js";

export function press(key, value) {
  if (!state.screen) return;
  const handler = !state.busy && (state.screen.keys[key] ||
    (/^[0-9]$/.test(key) && state.screen.keys.digit) || (api.token && everywhere[key]));
  if (handler) return handler(value === undefined ? key : value);
  // A swipe the screen does not take (or while a request is in hand) is said so, and the
  // screen stays as it is, with what was typed.
  if (key === "swipe") status.notice(t("当前界面不能刷卡"));
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
// ";PAN=YYMM…?", fast, and then Enter as most are set up. Such a burst is a swipe, never digits
// typed by the cashier: it begins with a sentinel no key of the POS types. It ends at its
// Enter, or when the keys stop for gapMs: a reader set up without the Enter swipes as well,
// and an Enter that still comes within lateMs of such a swipe is the reader's own and does
// nothing more. A burst that is no swipe is a bad read; the keys after it are the cashier's.
const wedge = {
  buffer: null,
  timer: null,
  gapMs: 80,
  lateMs: 1000,
  tookAt: -Infinity,  // when a swipe was taken without its Enter
  feed(event) {
    if (this.buffer === null) {
      const late = event.key === "Enter" && performance.now() - this.tookAt < this.lateMs;
      this.tookAt = -Infinity;
      if (late) return true;
      if (event.key !== "%" && event.key !== ";") return false;
      this.buffer = "";
    }
    clearTimeout(this.timer);
    if (event.key === "Enter") {
      this.end(false);
      return true;
    }
    if (event.key.length === 1) this.buffer += event.key;
    this.timer = setTimeout(() => this.end(true), this.gapMs);
    return true;
  },
  end(quiet) {
    const card = parseStripe(this.buffer);
    this.buffer = null;
    if (!card) return misread();
    if (quiet) this.tookAt = performance.now();
    status.wedge();
    press("swipe", card);
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

// A bad read (`count` of them: the serial reader's stream collapses a burst): 请重新刷卡 over
// the screen it came on. One such screen at a time: the next bad read replaces it and adds to
// its count; a good swipe goes to the screen under it, as if no bad read had come; 输入 and
// 取消 go back there, with what was typed.
export function misread(count = 1) {
  const here = state.screen;
  if (!here) return;
  if (state.busy) return status.notice(t("当前界面不能刷卡"));
  const again = here.name === "misread";
  const under = again ? here.under : here;
  const misreads = (again ? here.misreads : 0) + count;
  const back = () => (under.name === "standby" ? standby() : show(under));
  show({
    name: "misread", title: t("刷卡"), tone: "error", under, misreads,
    lines: [t("请重新刷卡"),
      ...(misreads > 1 ? [{ text: `${t("读卡失败次数")} ${misreads}`, small: true }] : [])],
    hint: t("按输入键继续…"),
    keys: {
      enter: back, cancel: back,
      swipe: (card) => {
        back();
        press("swipe", card);
      },
    },
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
