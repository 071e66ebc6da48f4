// Printing at the terminal: the print jobs its keys ask for (重印, 送纸, 管理 → 打印, the test
// page), each followed on screen until it is out, and what a screen says of a print.
import { t } from "./page.js";
import { api } from "./api.js";
import { processing, refusal, show } from "./display.js";
import { printer } from "./printer.js";
import { standby } from "./state.js";

// Why a print failed, as the cashier reads it: the server's Chinese reason (打印机未连接：
// 请检查电源和连线), never the device's English words (those stay in the log and the back office).
export const failure = (s) => t(s && s.message ? s.message : "打印机故障：请检查打印机");

// A failed print as a screen shows it: 打印失败, then why, smaller.
const failedLines = (job) => [{ text: t("打印失败"), tone: "error" },
  { text: failure(job), tone: "error", small: true }];

// What a screen says of a print: printing, printed (hints), or failed and why (lines).
export function printed(job, { waiting, done }) {
  if (job && job.state === "printed") return { hint: done };
  if (job && job.state === "failed") return { failed: failedLines(job), error: failure(job) };
  return { hint: waiting };
}

const PRINTS = {
  reprint: { title: "重印", code: "REPRINT" },
  feed: { title: "送纸", code: "FEED" },
  journal: { title: "打印流水", code: "JOURNAL" },
  totals: { title: "打印汇总", code: "TOTALS" },
  test: { title: "测试打印", code: "TEST" },
  settlement: { title: "结算单", code: "SETTLE" },
};

// A print asked for at the terminal: sent, then followed until it is out (or failed).
export async function printJob(kind, back = standby, voucherNo = null) {
  const what = PRINTS[kind];
  let job;
  try {
    const request = voucherNo ? { kind, voucher_no: voucherNo } : { kind };
    job = await processing(() => api.call("POST", "/terminal/printer/jobs", request));
  } catch (err) {
    if (err.error === "printer_not_configured") {
      printer.update({ printer: "none", error: null, reason: null, message: null, job: null });
    }
    return refusal(err, back, back);
  }
  printer.seen(job);
  const draw = () => {
    const now = printer.jobs.get(job.id) || job;
    const lines = [kind === "reprint" ? t("已发送重印") : t(now.name)];
    let hint = t("按输入键继续…");
    let tone = "";
    if (now.state === "printed") {
      lines.push(t("打印完成"));
      tone = "ok";
    } else if (now.state === "failed") {
      lines.push(...failedLines(now));
      tone = "error";
      if (kind === "reprint" || kind === "settlement") hint = t("按[重印]键重新打印");
    } else if (now.state === "skipped") {
      lines.push(t("未配置打印机"));
    } else {
      lines.push(t("打印中…"));
    }
    show({
      name: "print-job", title: t(what.title), code: what.code, lines, hint, tone,
      keys: { enter: back, cancel: back }, onPrinter: draw,
    });
  };
  draw();
}

// The printer's trouble, for the standby screen: what failed and how to try again. It does
// not interrupt a cashier: other screens show it in the status bar only.
export function printerTrouble() {
  const s = printer.state;
  if (s.printer !== "failed") return { lines: [], hint: "" };
  const job = s.job;
  const what = !job || job.kind === "probe" ? t("打印机 故障") : `${t("打印失败")}：${t(job.name)}`;
  const again = job && ["receipt", "reprint", "settlement"].includes(job.kind);
  return {
    lines: [{ text: what, tone: "error" }, { text: failure(s), tone: "error", small: true }],
    hint: again ? t("按[重印]键重新打印") : "",
  };
}
