// The transactions (储值消费, 储值充值, 积分累加, 积分消费): the card, the amount or points,
// the payment, the service code and the PIN; the request sent through the outbox with the
// manual's staged messages (正在建立连接…, 处理中…, 接受返回), and 交易成功. Also the card
// screen other flows share (the offline ones too), and the pending request sent again.
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
  // A transaction sent and never answered is settled first: it may have been applied.
  const pending = outbox.pending();
  if (pending && pending.sent !== false) return resume();
  if (!state.shop.enabled_types.includes(type)) {
    return refusal({ message: t("该交易未开通") });
  }
  const kind = TYPES[type];
  // `offline`: the offline flows (offline.js), which this one turns into when the server
  // cannot be reached.
  const flow = { type, title: t(kind.title), code: kind.code, offline: state.offline };
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

// The amount (or points); a flow may judge it before going on (`checkAmount`: the offline
// limits), and a refusal says why.
export function askAmount(flow) {
  const points = TYPES[flow.type].unit === "points";
  ask({
    name: "amount", title: flow.title, code: flow.code,
    lines: [points ? t("请输入积分：") : t("请输入金额：")], hint: t("输错请按[更正]键"),
    max: points ? 7 : 9, money: !points,
    onEnter: async (value) => {
      if (!value || /^0*$/.test(value)) return;
      delete flow.points;
      delete flow.amount;
      if (points) flow.points = Number(value);
      else flow.amount = `${Number(value.slice(0, -2) || "0")}.${value.padStart(2, "0").slice(-2)}`;
      const refused = flow.checkAmount && await flow.checkAmount(flow);
      if (refused) return refusal({ message: refused }, () => askAmount(flow), standby, flow);
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
      if (flow.finish) return flow.finish(pin || null);  // an offline sale keeps it sealed
      const body = { type: flow.type, card_no: flow.card_no, pin: pin || null };
      for (const field of ["amount", "points", "service_code", "payment_method"]) {
        if (flow[field] !== undefined && flow[field] !== null) body[field] = flow[field];
      }
      submit(outbox.create("/transactions", body), flow);
    },
  });
}

// Sent with the manual's staged messages: 正在建立连接… while the server is asked whether it
// answers (nothing is sent until it does), then 已连接卡卡通中心 处理中… while the request is
// out, and its answer. Either stage that fails says so and tries again by itself while the
// cashier waits:
// - the server cannot be reached and the request has never left: 取消 gives it up, and where
//   the transaction may be made offline, 功能 makes it offline with what was entered;
// - the request left and no answer came (接受返回): it may have been applied, so it is never
//   offered offline; it is sent again as it was, and its request_id makes that apply once.
//   取消 leaves it pending: it is sent again before the next transaction, or at the next start.
const RETRY_MS = 3000;

export async function submit(request, flow, attempt = 0) {
  if (request.abandoned) return;  // given up, or made offline: never sent now
  state.busy = true;
  if (request.sent === false) {
    show({ name: "connecting", title: flow.title, code: flow.code, lines: [t("正在建立连接…")],
      hint: t("按<取消键>退出"), keys: {} });
    const reachable = await api.reachable();
    if (!reachable) {
      state.busy = false;
      return unreachable(request, flow, attempt);
    }
  }
  let record;
  try {
    record = await processing(() => outbox.send(request));
  } catch (err) {
    if (err.error === "offline") return unanswered(request, flow, attempt);
    return refusal(err);
  }
  success(record, flow);
}

// Waits, then tries again, unless the cashier has left the screen.
function again(screen, request, flow, attempt) {
  setTimeout(() => {
    if (state.screen === screen) submit(request, flow, attempt + 1);
  }, RETRY_MS);
}

function unreachable(request, flow, attempt) {
  const offline = flow.offline;  // the offline flow this one may turn into (offline.js)
  const canTurn = offline && offline.available(request.body.type);
  const screen = {
    name: "comms-error", title: flow.title, code: flow.code, tone: "error",
    lines: [t("正在建立连接…"), { text: t("网络中断，无法连接卡卡通中心"), tone: "error" },
      { text: `${t("正在自动重试")} (${attempt + 1})`, small: true }],
    hint: canTurn ? t("按[功能]键转离线交易，按<取消键>退出") : t("按<取消键>退出"),
    keys: {
      cancel: () => {
        request.abandoned = true;
        outbox.done();  // never sent: nothing to resolve
        standby();
      },
      func: canTurn ? () => {
        // At once, before anything is awaited: a second tap, or the retry's timer, finds the
        // keys held and the request given up.
        state.busy = true;
        request.abandoned = true;
        outbox.done();
        offline.turn(request.body);
      } : undefined,
    },
  };
  show(screen);
  again(screen, request, flow, attempt);
}

function unanswered(request, flow, attempt) {
  const screen = {
    name: "unanswered", title: flow.title, code: flow.code, tone: "error",
    lines: [t("已连接卡卡通中心"), t("处理中"), `${t("接受返回")}  ${String(attempt + 1).padStart(2, "0")}`,
      { text: t("交易已发出，结果未确认，正在重新确认"), tone: "error", small: true }],
    hint: t("按<取消键>退出，恢复联网后自动确认"),
    keys: { cancel: standby },
  };
  show(screen);
  again(screen, request, flow, attempt);
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
// is sent again as it was, before anything else: it is applied once, whatever happened. One
// never sent is given up (its cashier left it, or the page went away before it was sent).
export function resume() {
  const pending = outbox.pending();
  if (!pending) return standby();
  if (pending.sent === false) {
    outbox.done();
    return standby();
  }
  const kind = TYPES[pending.body.type] || { title: "撤销", code: "VOID" };
  submit(pending, { title: t(kind.title), code: kind.code });
}
