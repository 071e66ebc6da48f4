// The status bar: the signal (how the last API call went), the card reader, the receipt
// printer, the operator signed in and the clock. (The terminal number is written with the
// terminal's record, in signin.js.)
import { $, config, t } from "./page.js";

export const status = {
  online(ok) {
    $("st-signal").textContent = ok ? t("信号正常") : t("信号中断");
    $("st-signal").dataset.ok = ok ? "1" : "0";
  },
  operator(name) {
    $("st-operator").textContent = name || "";
  },
  // The serial card reader (KAKATONG_MSR): "connected", "disconnected", or "none".
  reader(state) {
    const text = { connected: t("刷卡器 已连接"), disconnected: t("刷卡器 未连接") }[state];
    $("st-reader").textContent = text || `${t("刷卡器")} —`;
    $("st-reader").dataset.ok = state === "connected" ? "1" : state === "none" ? "" : "0";
  },
  // The receipt printer (小票打印机): none, unknown, printing, ok or failed (why in the title).
  printer(s) {
    const el = $("st-printer");
    let word = s.printer;
    // A connection test in hand is not a print: the printer is only not known yet.
    if (word === "printing" && s.job && s.job.kind === "probe") word = "unknown";
    el.textContent = {
      unknown: `${t("打印机")} …`, printing: t("正在打印"), ok: t("打印机 正常"),
      failed: t("打印机 故障"),
    }[word] || `${t("打印机")} —`;
    el.dataset.ok = word === "ok" ? "1" : word === "failed" ? "0" : "";
    el.title = word === "failed" ? t(s.message || "打印机故障：请检查打印机") : "";
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
