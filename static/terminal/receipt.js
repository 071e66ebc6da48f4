// The receipt: the last one on screen (重印 where there is no printer), and one transaction of
// the journal as its slip, a page the browser prints (交易查询 → 重印).
import { $, codes, t } from "./page.js";
import { message, show } from "./display.js";
import { printer } from "./printer.js";
import { printJob } from "./printing.js";
import { standby, state } from "./state.js";
import { TYPES } from "./transactions.js";

// The sales slip (签购单) on screen: card number masked, as a printed slip would show it.
export function receipt(r) {
  const kind = TYPES[r.type] || { title: "撤销", code: "VOID" };
  const masked = r.card_no.slice(0, 4) + "*".repeat(r.card_no.length - 8) + r.card_no.slice(-4);
  const money = r.amount !== "0.00"
    ? `${t("金额")} ${r.amount.replace("-", "")}  ${t("余额")} ${r.balance}`
    : `${t("积分")} ${Math.abs(r.points)}  ${t("可用积分：")}${r.points_balance}`;
  message({
    name: "receipt", title: `${state.terminal ? state.terminal.receipt_title : ""}`,
    code: t("重印") + " REPRINT",
    lines: [`${state.terminal ? state.terminal.merchant_name : ""}  ${t("终端号")} ${r.terminal_id}`,
      `${t("卡号")} ${masked}`, `${t(kind.title)} ${kind.code}`,
      `${t("凭证号")} ${r.voucher_no} ${t("批次号")} ${r.batch_no}`,
      `REF.NO ${r.reference_no} ${t("流水号")} ${r.trace_no}`,
      `${r.created_at.slice(0, 16).replace("T", " ")}  ${t("操作员")} ${r.operator_no}`, money],
    onEnter: standby,
  });
}

// A journal type's name and the POS's English code (储值消费 SALE), from the server's tables.
export function typeNames(type) {
  const { name, code } = codes.journal_types[type] || { name: type, code: "" };
  return [name, code];
}

// One transaction of the journal as its printed slip, inside the page, for the browser to
// print (window.print(); the print stylesheet prints the slip alone). The card number shows
// its first 6 and last 4 digits, as on the printed slip.

export function maskCard(cardNo) {
  const shown = Math.max(0, Math.min(6, cardNo.length - 8));
  const hidden = cardNo.length - shown - 4;
  if (hidden <= 0) return "*".repeat(cardNo.length);
  return cardNo.slice(0, shown) + "*".repeat(hidden) + cardNo.slice(-4);
}

export function slipView(r, back) {
  const [typeName, typeCode] = typeNames(r.type);
  const paper = $("slip-paper");
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const rows = [
    [t("商户名称"), state.terminal.merchant_name],
    [`${t("商户编号")} MER`, state.terminal.merchant_id],
    [`${t("终端编号")} TID`, r.terminal_id || "—"],
    [`${t("操作员")} OPER`, [r.operator_no, r.operator_name].filter(Boolean).join(" ") || "—"],
    [`${t("卡号")} CARD NO`, maskCard(r.card_no), "card-no"],
    [`${t("交易类型")} TRANS`, `${t(typeName)} ${typeCode}`],
    ...(r.original_voucher_no ? [[`${t("原凭证号")} ORIG`, r.original_voucher_no]] : []),
    [`${t("批次号")} BATCH NO`, r.batch_no],
    [`${t("凭证号")} VOUCHER NO`, r.voucher_no],
    [`${t("参考号")} REF.NO`, r.reference_no],
    [`${t("流水号")} TRACE NO`, r.trace_no],
    [`${t("日期/时间")} DATE/TIME`, r.created_at.slice(0, 19).replace("T", " ")],
    ...(r.amount !== "0.00" ? [[`${t("金额")} AMOUNT`, `RMB ${r.amount.replace("-", "")}`, "amount"]] : []),
    [`${t("余额")} BALANCE`, r.balance],
    ...(r.points ? [[`${t("积分")} POINTS`, `${r.points > 0 ? "+" : ""}${r.points}`]] : []),
    [t("积分余额"), String(r.points_balance)],
  ];
  const list = el("dl");
  for (const [label, value, className] of rows) {
    list.append(el("dt", label), el("dd", value || "—", className));
  }
  paper.replaceChildren(
    el("h2", state.terminal.receipt_title || t("签购单")),
    el("p", `${t("重印")} REPRINT`, "copy"),
    ...(r.status === "voided" ? [el("p", t("此交易已撤销"), "voided")] : []),
    list,
    ...(r.type === "consume" ? [el("p", `${t("持卡人签名")} CARDHOLDER SIGNATURE`, "sign"),
      el("p", t("本人确认以上交易，同意将其记入本卡账户"), "small")] : []),
  );
  show({
    name: "slip", title: t("签购单"), code: r.voucher_no, slip: true,
    // 重印 (or the slip's own button) prints it on the terminal's printer; without one,
    // the browser prints it.
    lines: [`${t("凭证号")} ${r.voucher_no}`],
    hint: printer.configured() ? t("按[重印]键在打印机上打印") : t("按输入键继续…"),
    keys: {
      enter: back, cancel: back,
      reprint: () => (printer.configured() ? printJob("reprint", back, r.voucher_no)
        : window.print()),
    },
  });
}
