// 结算 (SETTLE): the open batch's totals on screen before it is settled, the batch closed, its
// totals, and the settlement slip that the server prints, followed until it is out.
import { t } from "./page.js";
import { api } from "./api.js";
import { processing, refusal, show } from "./display.js";
import { printer } from "./printer.js";
import { printed, printJob } from "./printing.js";
import { standby, state } from "./state.js";

const SETTLE = { title: t("结算"), code: "SETTLE" };

// A batch's totals as lines: its number, each type's count and sum, the voids.
function totalsLines(totals) {
  const line = (type, label) => {
    const x = totals.types[type];
    return `${t(label)} ${x.count}${t("笔")} ${type.startsWith("points") ? x.points : x.amount}`;
  };
  return [`${t("批次号")} ${totals.batch_no}`, line("consume", "储值消费"),
    line("recharge", "储值充值"), line("points_earn", "积分累加"),
    line("points_redeem", "积分消费"), `${t("撤销")} ${totals.void_count}${t("笔")}`];
}

// What is to be settled, before it is: the open batch (GET /batch) and its totals; 输入
// settles that batch and no other (a second tap, or another session's settlement since, is
// refused by the server).
export async function settlement() {
  let batch;
  try {
    batch = await processing(() => api.call("GET", "/batch"));
  } catch (err) {
    return refusal(err, standby, standby, SETTLE);
  }
  show({
    name: "settle-confirm", ...SETTLE, lines: totalsLines(batch),
    hint: t("按输入键结算本批次"),
    keys: { enter: () => settle(batch.batch_no), cancel: standby },
  });
}

async function settle(batchNo) {
  // The settlement slip the server prints is the first one queued after this.
  const before = printer.lastId();
  let totals;
  try {
    totals = await processing(() => api.call("POST", "/settlements", { batch_no: batchNo }));
    state.terminal = await api.call("GET", "/terminal");
  } catch (err) {
    return refusal(err, standby, standby, SETTLE);
  }
  const lines = totalsLines(totals);
  const draw = () => {
    let hint = t("按输入键继续…");
    let hintTone = "";
    if (printer.configured()) {
      const job = printer.find((j) => j.kind === "settlement" && j.id > before);
      const outcome = printed(job, { waiting: t("正在打印结算单…"), done: t("结算单已打印") });
      hint = outcome.failed
        ? `${t("打印失败")}：${outcome.error} ${t("按[重印]键重新打印")}` : outcome.hint;
      hintTone = outcome.failed ? "error" : "";
    }
    show({
      name: "settled", title: t("结算成功"), code: "SETTLE", tone: "ok", lines, hint,
      hintTone, onPrinter: draw,
      keys: {
        enter: standby, cancel: standby,
        // With a printer 重印 prints this slip again; without one, the last receipt.
        ...(printer.configured() ? { reprint: () => printJob("settlement") } : {}),
      },
    });
  };
  printer.update(state.terminal.printer);
  draw();
}
