// 结算 (SETTLE): the batch closed, its totals on screen, and the settlement slip that the
// server prints, followed until it is out.
import { t } from "./page.js";
import { api } from "./api.js";
import { message, processing, refusal, show } from "./display.js";
import { printer } from "./printer.js";
import { printed, printJob } from "./printing.js";
import { standby, state } from "./state.js";

export function settlement() {
  message({
    name: "settle-confirm", title: t("结算"), code: "SETTLE",
    lines: [`${t("批次号")} ${state.terminal.batch_no}`, t("按输入键结算本批次")],
    onEnter: async () => {
      // The settlement slip the server prints is the first one queued after this.
      const before = printer.lastId();
      try {
        const totals = await processing(() => api.call("POST", "/settlements", {}));
        state.terminal = await api.call("GET", "/terminal");
        const line = (type, label) => {
          const x = totals.types[type];
          return `${t(label)} ${x.count}${t("笔")} ${type.startsWith("points") ? x.points : x.amount}`;
        };
        const lines = [`${t("批次号")} ${totals.batch_no}`, line("consume", "储值消费"),
          line("recharge", "储值充值"), line("points_earn", "积分累加"),
          line("points_redeem", "积分消费"), `${t("撤销")} ${totals.void_count}${t("笔")}`];
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
      } catch (err) {
        refusal(err);
      }
    },
  });
}
