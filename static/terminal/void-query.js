// 交易撤销 (VOID), with the supervisor's password and the card's PIN; and the card queries,
// 储值查询 (BALANCE) and 积分查询 (POINTS).
import { t } from "./page.js";
import { api, outbox } from "./api.js";
import { ask, message, processing, refusal } from "./display.js";
import { askCard, submit, TYPES } from "./transactions.js";

export function query(what) {
  const flow = what === "balance"
    ? { title: t("余额查询"), code: "BALANCE" }
    : { title: t("积分查询"), code: "POINTS" };
  askCard(flow, () => ask({
    name: "pin", title: flow.title, code: flow.code, lines: [t("请输入密码")],
    hint: t("无密码按[输入]键"), max: 6, mask: true,
    onEnter: async (pin) => {
      if (pin && pin.length !== 6) return;
      try {
        const card = await processing(() => api.call("POST", `/cards/${flow.card_no}/query`,
          { pin: pin || null }));
        message({
          name: "query-result", title: t("查询成功"), tone: "ok",
          lines: what === "balance"
            ? [t("可用余额："), card.balance]
            : [t("可用积分："), `${card.points}${t("分")}`],
        });
      } catch (err) {
        refusal(err);
      }
    },
  }));
}

export function voidFlow() {
  const flow = { title: t("撤销"), code: "VOID" };
  ask({
    name: "supervisor", title: flow.title, code: flow.code, lines: [t("请输入主管密码")],
    max: 8, mask: true,
    onEnter: (password) => {
      if (!password) return;
      flow.supervisor_password = password;
      ask({
        name: "voucher", title: flow.title, code: flow.code, lines: [t("请输入原凭证号：")],
        max: 9,
        onEnter: async (voucher) => {
          if (!voucher) return;
          try {
            const original = await processing(() => api.call("GET", `/transactions/${voucher}`));
            showOriginal(flow, original);
          } catch (err) {
            refusal(err);
          }
        },
      });
    },
  });
}

function showOriginal(flow, original) {
  const kind = TYPES[original.type];
  const amount = original.amount !== "0.00" ? original.amount.replace("-", "") : `${Math.abs(original.points)}`;
  message({
    name: "original", title: `${kind ? t(kind.title) : ""}${t("撤销")}`,
    lines: [t("原交易："), `Cn: ${original.card_no}`, `VOUCHER NO: ${original.voucher_no}`,
      `AMOUNT: ${amount}`, `REF.NO: ${original.reference_no}`],
    onEnter: () => ask({
      name: "pin", title: `${t("金额")} ${amount}`, lines: [t("请输入密码")],
      hint: t("无密码按[输入]键"), max: 6, mask: true,
      onEnter: (pin) => {
        if (pin && pin.length !== 6) return;
        const request = outbox.create(`/transactions/${original.voucher_no}/void`,
          { supervisor_password: flow.supervisor_password, pin: pin || null });
        submit(request, { title: flow.title, code: flow.code });
      },
    }),
  });
}
