// The status bar: the signal (how the last API call went), the card reader, the receipt
// printer, the offline sales waiting to be uploaded, the operator signed in and the clock (the terminal number is written with the
// terminal's record, in signin.js); and the short notices shown over a screen.
import { $, config, t } from "./page.js";

export const status = {
  // How the last call to the server went; `onChange` hears when it turns (offline.js).
  isOnline: true,
  onChange: null,
  online(ok) {
    $("st-signal").textContent = ok ? t("信号正常") : t("信号中断");
    $("st-signal").dataset.ok = ok ? "1" : "0";
    const turned = ok !== this.isOnline;
    this.isOnline = ok;
    if (turned && this.onChange) this.onChange(ok);
  },
  // The offline sales kept on this terminal and not yet uploaded (离线交易), at all times.
  pending(count) {
    $("st-offline").textContent = `${t("离线待传")} ${count}`;
    $("st-offline").dataset.count = String(count);
  },
  operator(name) {
    $("st-operator").textContent = name || "";
  },
  // The card reader (刷卡器): 正常, 故障 or 未配置. `state` is the serial reader's
  // (KAKATONG_MSR) as the server says: "connected", "disconnected", or "none" when it has
  // none. A keyboard-wedge reader needs no setting and the server cannot see it: once it
  // has typed a good swipe on this page (wedge()), "none" means it works.
  readerState: "none",
  wedgeSeen: false,
  reader(state) {
    this.readerState = state;
    const word = state === "connected" || (state === "none" && this.wedgeSeen) ? "ok"
      : state === "disconnected" ? "failed" : "none";
    $("st-reader").textContent = { ok: t("刷卡器 正常"), failed: t("刷卡器 故障") }[word] ||
      t("刷卡器 未配置");
    $("st-reader").dataset.ok = { ok: "1", failed: "0" }[word] || "";
  },
  wedge() {
    this.wedgeSeen = true;
    this.reader(this.readerState);
  },
  // The receipt printer (小票打印机): none (未配置), unknown, printing, ok or failed (why in
  // the title).
  printer(s) {
    const el = $("st-printer");
    let word = s.printer;
    // A connection test in hand is not a print: the printer is only not known yet.
    if (word === "printing" && s.job && s.job.kind === "probe") word = "unknown";
    el.textContent = {
      unknown: `${t("打印机")} …`, printing: t("正在打印"), ok: t("打印机 正常"),
      failed: t("打印机 故障"),
    }[word] || t("打印机 未配置");
    el.dataset.ok = word === "ok" ? "1" : word === "failed" ? "0" : "";
    el.title = word === "failed" ? t(s.message || "打印机故障：请检查打印机") : "";
  },
  // A short notice over whatever is on display, which it leaves as it is (a swipe that
  // the screen does not take). It goes by itself.
  notice(text, ms = 2500) {
    let el = $("notice");
    if (!el) {
      el = document.createElement("div");
      el.id = "notice";
      el.className = "notice";
      el.setAttribute("role", "status");
      document.body.append(el);
    }
    el.textContent = text;
    el.hidden = false;
    // Over the display, under its title: the keys stay in sight.
    const area = document.querySelector(".display").getBoundingClientRect();
    el.style.left = `${area.left + area.width / 2}px`;
    el.style.top = `${area.top + 56}px`;
    el.style.maxWidth = `${area.width - 24}px`;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => { el.hidden = true; }, ms);
  },
  // The shop's time (KAKATONG_TZ), whatever zone the browser's machine is set to.
  clock() {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
      timeZone: config.tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date()).map((p) => [p.type, p.value]));
    const text = `${parts.year}/${parts.month}/${parts.day} ${parts.hour}:${parts.minute}`;
    $("st-clock").textContent = text;
    return text;
  },
};
