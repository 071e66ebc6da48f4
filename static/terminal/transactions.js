// The transactions (储值消费, 储值充值, 积分累加, 积分消费): the card, the amount or points,
// the payment, the service code and the PIN; the request sent through the outbox, and
// 交易成功. Also the card screen other flows share, and the pending request sent again.
import { codes, t } from "./page.js";
import { api, outbox } from "./api.js";
import { ask, choose, message, processing, refusal, show } from "./display.js";
import { printer } from "./printer.js";
import { printed } from "./printing.js";
import { standby, state } from "./state.js";

export const TYPES = Object.fromEntries(codes.transaction_types.map((type) => {
  const { name, code } = codes.journal_types[type];
  return [type, { title: name, code, unit: codes.money_types.includes(type) ? "amount" : "points" }];
}));

export function startTransaction(type, swiped) {
  if (!state.shop.enabled_types.includes(type)) {
    return refusal({ message: t("该交易未开通") });
  }
  const kind = TYPES[type];
  const flow = { type, title: t(kind.title), code: kind.code };
  askCard(flow, () => askAmount(flow), swiped);
}

// The card: swiped, or typed where the terminal allows it; then confirmed (CARD, EXP DATE).
// What is typed may be the card number, the external number or the bound phone: the server
// looks it up (GET /cards/lookup) and the flow goes on with that card's number; an entry that
// names several cards asks which. `{ lookup: false }`: the number typed is the card's, as is
// (activating a card of the shop's stock).
export function askCard(flow, next, swiped, { lookup = true } = {}) {
  const again = () => askCard(flow, next, undefined, { lookup });
  const confirm = () => message({
    name: "confirm", title: flow.title, code: flow.code,
    lines: [`CARD: ${flow.card_no}`, `EXP DATA: ${flow.expiry}`],
    onEnter: next, onCancel: standby,
  });
  const onSwipe = (card) => {
    flow.card_no = card.card_no;
    flow.expiry = card.expiry;
    confirm();
  };
  const typed = (cardNo) => {
    flow.card_no = cardNo;
    flow.expiry = "00/00";
    confirm();
  };
  if (swiped) return onSwipe(swiped);
  if (!state.terminal.manual_entry) {
    return show({
      name: "card", title: flow.title, code: flow.code, lines: [t("请刷卡")],
      keys: { cancel: standby, swipe: onSwipe },
    });
  }
  ask({
    name: "card", title: flow.title, code: flow.code, lines: [t("请刷卡或输入卡号")], max: 19,
    hint: lookup ? t("可输入卡号或手机号码") : undefined,
    onSwipe,
    onEnter: async (entry) => {
      if (!entry) return;
      if (!lookup) {
        if (!/^[0-9]{8,19}$/.test(entry)) {
          return refusal({ message: t("卡号必须是 8 到 19 位数字") }, again, standby, flow);
        }
        return typed(entry);
      }
      let found;
      try {
        found = await processing(() => api.call("GET", `/cards/lookup?q=${encodeURIComponent(entry)}`));
      } catch (err) {
        return refusal(err, again, standby, flow);
      }
      const candidates = found.candidates;
      if (candidates.length === 1) return typed(candidates[0].card.card_no);
      chooseCard(flow, candidates, typed, again);
    },
  });
}

// The entry names several cards (one card's number is another's phone): a digit picks one.
function chooseCard(flow, candidates, typed, again) {
  const shown = candidates.slice(0, 9);
  const matchedBy = { card_no: t("卡号"), external_no: t("外卡号"), phone: t("手机号码") };
  choose({
    name: "card-choice", title: flow.title, code: flow.code,
    lines: [t("该号码对应多张会员卡，请选择："),
      ...shown.map((c, i) => `${i + 1}.${matchedBy[c.matched_by]} ${c.card.card_no}`)],
    options: Object.fromEntries(shown.map((c, i) => [String(i + 1), () => typed(c.card.card_no)])),
    onCancel: again,
  });
}

function askAmount(flow) {
  const points = TYPES[flow.type].unit === "points";
  ask({
    name: "amount", title: flow.title, code: flow.code,
    lines: [points ? t("请输入积分：") : t("请输入金额：")], hint: t("输错请按[更正]键"),
    max: points ? 7 : 9, money: !points,
    onEnter: (value) => {
      if (!value || /^0*$/.test(value)) return;
      if (points) flow.points = Number(value);
      else flow.amount = `${Number(value.slice(0, -2) || "0")}.${value.padStart(2, "0").slice(-2)}`;
      if (flow.type === "recharge") return askPayment(flow);
      askServiceCode(flow);
    },
  });
}

// 1.现金 2.银行卡 …: the payment methods in the server's order.
const PAYMENTS = Object.entries(codes.payment_methods)
  .map(([method, { name }], i) => [String(i + 1), method, name]);

function askPayment(flow) {
  show({
    name: "payment", title: flow.title, code: flow.code,
    lines: [t("请选择支付方式："), ...PAYMENTS.map(([k, , label]) => `${k}.${t(label)}`)],
    keys: {
      digit: (d) => {
        const choice = PAYMENTS.find(([k]) => k === d);
        if (choice) { flow.payment_method = choice[1]; askPin(flow); }
      },
      cancel: standby,
    },
  });
}

function askServiceCode(flow) {
  if (!state.terminal.service_code_prompt) return askPin(flow);
  ask({
    name: "service-code", title: flow.title, code: flow.code,
    lines: [t("请输入服务代码：")], hint: t("无服务代码按[输入]键"), max: 20,
    onEnter: (code) => { flow.service_code = code || null; askPin(flow); },
  });
}

function askPin(flow) {
  const shown = flow.amount ? `${t("金额")} ${flow.amount}` : `${t("积分")} ${flow.points}`;
  ask({
    name: "pin", title: shown, lines: [t("请输入密码")], hint: t("无密码按[输入]键"),
    max: 6, mask: true,
    onEnter: (pin) => {
      if (pin && pin.length !== 6) return;
      const body = { type: flow.type, card_no: flow.card_no, pin: pin || null };
      for (const field of ["amount", "points", "service_code", "payment_method"]) {
        if (flow[field] !== undefined && flow[field] !== null) body[field] = flow[field];
      }
      submit(outbox.create("/transactions", body), flow);
    },
  });
}

export async function submit(request, flow) {
  try {
    const record = await processing(() => outbox.send(request));
    success(record, flow);
  } catch (err) {
    if (err.error === "offline") {
      return message({
        name: "offline", title: flow.title, tone: "error",
        lines: [err.message, t("按输入键重试")],
        onEnter: () => submit(request, flow), onCancel: standby,
      });
    }
    refusal(err);
  }
}

// 交易成功; with a printer the server prints the receipt by itself, and the hint follows it
// (printing, printed, or failed with 重印 to try again).
function success(record, flow) {
  const draw = () => {
    const lines = [t("交易成功"), `${t("凭证号")} ${record.voucher_no}`,
      record.amount !== "0.00" ? `${t("余额")} ${record.balance}` : `${t("积分")} ${record.points_balance}`];
    let hint = t("未配置打印机：按[重印]键在屏幕上看签购单");
    if (printer.configured()) {
      const job = printer.find((j) => j.kind === "receipt" && j.voucher_no === record.voucher_no);
      const outcome = printed(job, { waiting: t("正在打印签购单…"), done: t("签购单已打印") });
      if (outcome.failed) lines.push(...outcome.failed);
      hint = outcome.failed ? t("按[重印]键重新打印") : outcome.hint;
    }
    show({
      name: "success", title: flow.title, code: flow.code, tone: "ok", lines, hint,
      keys: { enter: standby, cancel: standby }, onPrinter: draw,
    });
  };
  draw();
}

// A transaction confirmed but never answered (the network failed, the page was reloaded)
// is sent again as it was, before anything else: it is applied once, whatever happened.
export function resume() {
  const pending = outbox.pending();
  if (!pending) return standby();
  const kind = TYPES[pending.body.type] || { title: "撤销", code: "VOID" };
  submit(pending, { title: t(kind.title), code: kind.code });
}
