// The receipt (签购单) as a page over the terminal, for the browser to print (the print
// stylesheet prints the slip alone): the terminal's last one (重印 without a printer) and any
// transaction of the batch (交易查询 → 重印). What it says comes from the server
// (GET /transactions/{voucher_no}/receipt, GET /terminal/receipt), the same lines the printer
// prints: the terminal's last receipt is the server's, the one a printer's 重印 prints, after
// a reload or a power cut too.
import { $, t } from "./page.js";
import { api } from "./api.js";
import { message, processing, refusal, show } from "./display.js";
import { printer } from "./printer.js";
import { printJob } from "./printing.js";

const REPRINT = { title: t("重印") };

// A receipt as the server sends it, or the refusal on screen (then null).
async function fetchFrom(path, back) {
  try {
    return await processing(() => api.call("GET", path));
  } catch (err) {
    if (err.error === "no_receipt") {
      message({ name: "no-receipt", ...REPRINT, lines: [t("没有可重印的签购单")], onEnter: back });
    } else {
      refusal(err, back, back, REPRINT);
    }
    return null;
  }
}

// The receipt of a voucher.
export const fetchReceipt = (voucherNo, back) =>
  fetchFrom(`/transactions/${voucherNo}/receipt`, back);

// 重印 without a printer: the terminal's last receipt as a page (没有可重印的签购单 while the
// terminal has made none).
export async function lastSlip(back) {
  const r = await fetchFrom("/terminal/receipt", back);
  if (r) drawSlip(r, back);
}

// One labelled line: 卡号 CARD NO.  168086******7114 (money with its currency on the amount).
function lineText(line) {
  if (line.value === null || line.value === "") return "—";
  if (line.translate) return [t(line.value), line.value_code].filter(Boolean).join(" ");
  return line.key === "amount" ? `RMB ${line.value}` : line.value;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function footer(lines) {
  const node = element("footer", undefined, "slip-footer");
  node.append(...lines.map((line) => element("p",
    line.label ? `${t(line.label)}：${line.value}` : line.value, line.key.replaceAll("_", "-"))));
  return node;
}

export async function slipView(voucherNo, back) {
  const r = await fetchReceipt(voucherNo, back);
  if (r) drawSlip(r, back);
}

// A slip as a page. `copy` is the line under the title (重印 REPRINT); a slip kept `local`ly
// (an offline sale, made without the server) is printed by the browser only.
export function drawSlip(r, back, { copy = `${t("重印")} REPRINT`, local = false } = {}) {
  const list = element("dl");
  for (const line of r.lines) {
    list.append(element("dt", `${t(line.label)} ${line.label_code}`),
      element("dd", lineText(line), line.key.replaceAll("_", "-")));
  }
  $("slip-paper").replaceChildren(
    element("h2", r.receipt_title || t("签购单")),
    element("p", copy, "copy"),
    ...(r.voided ? [element("p", t("此交易已撤销"), "voided")] : []),
    list,
    ...(r.signature_required ? [element("p", `${t("持卡人签名")} CARDHOLDER SIGNATURE`, "sign"),
      element("p", t("本人确认以上交易，同意将其记入本卡账户"), "small")] : []),
    // The shop's address, phone and the owner's line, as the printed slip ends.
    ...(r.footer.length ? [footer(r.footer)] : []),
  );
  show({
    name: "slip", title: t("签购单"), code: r.voucher_no, slip: local ? "local" : true,
    // 重印 (or the slip's own button) prints it on the terminal's printer; without one,
    // the browser prints it.
    lines: [`${t("凭证号")} ${r.voucher_no}`],
    hint: printer.configured() && !local ? t("按[重印]键在打印机上打印") : t("按输入键继续…"),
    keys: {
      enter: back, cancel: back,
      reprint: () => (printer.configured() && !local ? printJob("reprint", back, r.voucher_no)
        : window.print()),
    },
  });
}
