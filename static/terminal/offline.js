// 离线交易 (the manual's section 6; 管理 → 9.离线交易): 1.离线储值消费 and 2.离线积分累加,
// made like their online flows while the server cannot be reached, 3.离线交易查询 and
// 4.批量离线交易上传. Each is switched on or off in 交易参数设置 (the offline_types setting).
//
// While online the terminal keeps what it needs (offline-store.js): the offline configuration
// (switches, limits, the cards it may not take, the key PINs are sealed to), its own record,
// a block of offline trace numbers and the last sign-in. Offline it enforces the limits,
// keeps each sale in IndexedDB the moment it is confirmed, with its PIN sealed, and shows its
// slip (离线 OFFLINE, its offline voucher number). Back online it offers the upload, which
// sends the sales one by one: each is applied once by the server, or kept there as failed for
// 离线对账, and is gone from the terminal either way.
import { config, t } from "./page.js";
import { api, outbox } from "./api.js";
import { choose, message, refusal, show } from "./display.js";
import { keep, seal, sealedFor } from "./offline-store.js";
import { printer } from "./printer.js";
import { drawSlip } from "./receipt.js";
import { standby, state } from "./state.js";
import { status } from "./status.js";
import { askAmount, askCard, resume, TYPES } from "./transactions.js";

const OFFLINE_TYPES = {
  consume: { title: "离线储值消费", code: "OFFLINE SALE" },
  points_earn: { title: "离线积分累加", code: "OFFLINE EARN" },
};
const CAN_SELL = ["operator", "supervisor", "owner"];
// A new block of offline trace numbers is asked for while fewer than this are left.
const TRACES_LOW = 20;
const REFRESH_MS = 10 * 60 * 1000;
const CARD_REFUSALS = {
  inactive: "该卡未激活", frozen: "该卡已冻结", lost: "该卡已挂失", expired: "该卡已过有效期",
};

const six = (n) => String(n).padStart(6, "0");
const toFen = (amount) => {
  const [yuan, fen = ""] = amount.split(".");
  return Number(yuan) * 100 + Number(fen.padEnd(2, "0"));
};
const yuan = (fen) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;

// The shop's date and time (KAKATONG_TZ), whatever the tablet's zone.
function shopParts(date = new Date()) {
  return Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: config.tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
}
const shopDay = (date) => {
  const p = shopParts(date);
  return `${p.year}-${p.month}-${p.day}`;
};
const shopTime = (date) => {
  const p = shopParts(date);
  return `${shopDay(date)} ${p.hour}:${p.minute}:${p.second}`;
};

// The card number as slips print it (receipts.mask_card_no): the first 6 and the last 4.
function mask(cardNo) {
  const shown = Math.max(0, Math.min(6, cardNo.length - 8));
  const hidden = cardNo.length - shown - 4;
  if (hidden <= 0) return "*".repeat(cardNo.length);
  return cardNo.slice(0, shown) + "*".repeat(hidden) + cardNo.slice(-4);
}

// The sale's time by the server's clock: the tablet's, corrected by how far it was from the
// server's when the configuration was last fetched (a tablet's clock drifts, or was never set).
function saleTime() {
  const offset = (kept.config && kept.config.clock_offset_ms) || 0;
  return new Date(Date.now() + offset).toISOString();
}

// What is kept for this terminal, as last loaded.
const kept = { terminalId: null, config: null, terminal: null, count: 0 };

async function countPending() {
  kept.count = kept.terminalId ? (await keep.sales(kept.terminalId)).length : 0;
  status.pending(kept.count);
  return kept.count;
}

// IndexedDB, WebCrypto and the service worker exist only in a secure context (HTTPS, or the
// box's own screen on 127.0.0.1).
const capable = () => window.isSecureContext && !!(window.crypto && crypto.subtle) &&
  !!window.indexedDB;

export const offline = {
  // At start: what this browser keeps for its terminal.
  async load(terminalId) {
    kept.terminalId = terminalId || null;
    if (!capable() || !kept.terminalId) return countPending().catch(() => 0);
    try {
      kept.config = await keep.get(`config:${kept.terminalId}`);
      kept.terminal = await keep.get(`terminal:${kept.terminalId}`);
      await countPending();
    } catch (err) {
      // private browsing without storage: offline mode is not available
    }
    return kept.count;
  },

  // While online and signed in at a terminal: the configuration, the terminal's record and
  // the trace numbers kept fresh (the cards not to take change as the shop works).
  async refresh() {
    if (!capable() || !api.token || !state.terminal || !state.me ||
      !CAN_SELL.includes(state.me.role)) return;
    const terminalId = state.terminal.terminal_id;
    try {
      const asked = Date.now();
      const fresh = await api.call("GET", "/offline/config");
      const answered = Date.now();
      fresh.clock_offset_ms = Date.parse(fresh.server_time) - Math.round((asked + answered) / 2);
      await keep.put(`config:${terminalId}`, fresh);
      await keep.put(`terminal:${terminalId}`, state.terminal);
      const block = await keep.traces(terminalId);
      if (!block || block.last - block.next + 1 < TRACES_LOW) {
        const got = await api.call("POST", "/offline/traces", { count: 100 });
        await keep.setTraces(terminalId, { next: got.first, last: got.last });
      }
      Object.assign(kept, { terminalId, config: fresh, terminal: state.terminal });
    } catch (err) {
      // kept as it was; tried again later
    }
    await countPending().catch(() => 0);
  },

  // A successful sign-in, the one an operator may reuse offline on this terminal.
  remember(session) {
    if (!capable() || !state.terminal || !CAN_SELL.includes(session.role)) return Promise.resolve();
    return keep.put("signin", {
      operator_no: session.operator_no, name: session.name, role: session.role,
      terminal_id: state.terminal.terminal_id, at: Date.now(),
    }).catch(() => {});
  },

  // Signed out or locked: the sign-in is no longer there to reuse offline.
  forget() {
    if (!capable()) return Promise.resolve();
    return keep.forget("signin").catch(() => {});
  },

  // The last sign-in on this terminal, if it may be reused offline: an operator's who may
  // sell, recent enough (the offline_signin_hours setting). Never a new one.
  async lastSignIn() {
    if (!capable() || !kept.config || !kept.terminal) return null;
    let last;
    try {
      last = await keep.get("signin");
    } catch (err) {
      return null;
    }
    const age = last ? Date.now() - last.at : -1;
    const fresh = age >= 0 && age <= kept.config.signin_hours * 3600 * 1000;
    return last && fresh && last.terminal_id === kept.terminalId && CAN_SELL.includes(last.role)
      ? last : null;
  },

  async reusable(operatorNo) {
    const last = await this.lastSignIn();
    return !!last && last.operator_no === operatorNo;
  },

  // Signed in offline with the last sign-in. Returns whether it was.
  async resume() {
    const last = await this.lastSignIn();
    if (!last) return false;
    state.me = { operator_no: last.operator_no, name: last.name, role: last.role };
    state.offlineSession = true;
    state.terminal = kept.terminal;
    state.shop.enabled_types = kept.terminal.enabled_types || [];
    status.operator(`${last.operator_no} ${last.name} (${t("离线")})`);
    status.online(false);
    standby();
    return true;
  },

  pending: () => kept.count,

  // Whether this offline type may be made now (online flows ask before offering it).
  available(type) {
    return capable() && !!kept.config && !!kept.terminal && !!state.me &&
      CAN_SELL.includes(state.me.role) && kept.config.types.includes(type) && type in OFFLINE_TYPES;
  },

  // An online transaction the server could not be reached for, made offline as it was
  // entered: the card, the amount or points, the service code and the PIN.
  async turn(body) {
    if (unresolved()) {
      state.busy = false;
      return refusal({ message: unresolved() }, standby, standby);
    }
    const sale = {
      type: body.type, title: t(OFFLINE_TYPES[body.type].title), code: OFFLINE_TYPES[body.type].code,
      card_no: body.card_no,
    };
    for (const field of ["amount", "points", "service_code"]) {
      if (body[field] !== undefined && body[field] !== null) sale[field] = body[field];
    }
    const refused = cardRefusal(sale.card_no) || await limitRefusal(sale);
    if (refused) {
      state.busy = false;
      return refusal({ message: refused }, standby, standby, sale);
    }
    keepSale(sale, body.pin || null);
  },
};
state.offline = offline;

// ---------------------------------------------------------------- the screens

// Standby while the server cannot be reached (or signed in offline): a swipe starts the
// terminal's default transaction offline, 输入 opens 离线交易.
export function offlineStandby() {
  const types = kept.config ? kept.config.types : [];
  const selling = types.includes("consume") || types.includes("points_earn");
  show({
    name: "offline-standby", title: t("离线模式"), code: "OFFLINE", tone: "error",
    lines: [t("卡  卡  通"), { text: t("网络中断"), tone: "error" },
      selling ? t("离线交易：请刷卡") : t("离线交易未开通"), status.clock()],
    hint: t("按输入键进入离线交易"),
    keys: {
      enter: () => offlineMenu(standby),
      trade: () => startOffline("consume"),
      digit: () => {},
      cancel: () => {},
      swipe: (card) => startOffline(state.terminal.standby_type, card),
    },
  });
}

// The online standby's line and key for offline sales waiting to be uploaded.
export function uploadOffer() {
  if (!kept.count || !kept.config || !kept.config.types.includes("upload")) return null;
  return {
    line: { text: `${t("离线交易")} ${kept.count} ${t("笔待上传")}`, tone: "error" },
    hint: t("按[功能]键上传离线交易"),
    key: () => upload(standby),
  };
}

// 9.离线交易: the four items, those switched off left out (the numbers stay the manual's).
export function offlineMenu(back) {
  if (!capable()) {
    return message({ name: "offline-unavailable", title: t("离线交易"),
      lines: [t("离线交易需要安全连接（HTTPS）")], onEnter: back });
  }
  if (!kept.config) {
    return message({ name: "offline-unavailable", title: t("离线交易"),
      lines: [t("本机还没有离线参数"), t("请联网签到一次后再用")], onEnter: back });
  }
  const types = kept.config.types;
  const items = [
    ["1", "离线储值消费", types.includes("consume"), () => startOffline("consume", undefined, back)],
    ["2", "离线积分累加", types.includes("points_earn"),
      () => startOffline("points_earn", undefined, back)],
    ["3", "离线交易查询", true, () => query(0, back)],
    ["4", "批量离线交易上传", types.includes("upload"), () => upload(back)],
  ].filter(([, , on]) => on);
  choose({
    name: "offline-menu", title: t("离线交易"), code: "OFFLINE",
    lines: items.map(([k, label]) => `${k}.${t(label)}`),
    options: Object.fromEntries(items.map(([k, , , run]) => [k, run])),
    onCancel: back,
  });
}

// A transaction sent and never answered may have been applied: until the server has
// answered for it (by its request_id, once it is back), no sale is made offline.
function unresolved() {
  const pending = outbox.pending();
  return pending && pending.sent !== false ? t("上一笔交易结果未确认，恢复联网后自动确认，暂不能离线交易")
    : null;
}

async function startOffline(type, swiped, back = standby) {
  const head = { title: t("离线交易") };
  if (!offline.available(type)) return refusal({ message: t("该离线交易未开通") }, back, back, head);
  if (unresolved()) return refusal({ message: unresolved() }, back, back, head);
  // With the server there, a sale is made online, where the card and the PIN are judged now.
  if (!state.offlineSession && status.isOnline && await api.reachable(1500)) {
    return refusal({ message: t("网络正常，请做联网交易") }, back, back, head);
  }
  const kind = OFFLINE_TYPES[type];
  const sale = {
    type, title: t(kind.title), code: kind.code,
    checkAmount: limitRefusal,
    finish: (pin) => keepSale(sale, pin),
  };
  const again = () => startOffline(type, undefined, back);
  askCard(sale, () => {
    const refused = cardRefusal(sale.card_no);
    if (refused) return refusal({ message: refused }, again, back, sale);
    askAmount(sale);
  }, swiped, { lookup: false });
}

// A card on the terminal's list (not active, or past its expiry by the shop's date): why not.
function cardRefusal(cardNo) {
  const entry = kept.config.blocked.find((b) => b.card_no === cardNo);
  if (!entry) return null;
  if (entry.reason === "expired" && entry.from && shopDay() < entry.from) return null;
  return `${t(CARD_REFUSALS[entry.reason] || "该卡不能使用")}，${t("不能离线交易")}`;
}

// The offline limits: one amount, and per card between uploads a total and a count.
async function limitRefusal(sale) {
  const limits = kept.config;
  const fen = sale.amount !== undefined ? toFen(sale.amount) : null;
  if (fen !== null && fen > limits.single_limit_fen) {
    return `${t("金额超过离线单笔限额")} ${yuan(limits.single_limit_fen)}`;
  }
  const mine = (await keep.sales(kept.terminalId)).filter((s) => s.item.card_no === sale.card_no);
  if (mine.length >= limits.card_count) {
    return `${t("该卡离线交易笔数已达上限")} ${limits.card_count} ${t("笔")}`;
  }
  if (sale.type === "consume") {
    const total = mine.filter((s) => s.item.type === "consume")
      .reduce((sum, s) => sum + toFen(s.item.amount), fen);
    if (total > limits.card_total_fen) {
      return `${t("该卡离线累计金额超过限额")} ${yuan(limits.card_total_fen)}`;
    }
  }
  return null;
}

// Confirmed: numbered, the PIN sealed, kept in IndexedDB, then shown as done.
async function keepSale(sale, pin) {
  state.busy = true;
  show({ name: "offline-keeping", title: sale.title, code: sale.code,
    lines: [t("正在保存离线交易…")], keys: {} });
  const terminalId = kept.terminalId;
  let record;
  try {
    const trace = await keep.takeTrace(terminalId);
    if (trace === null) throw new Error(t("离线流水号已用完，请联网后再试"));
    const item = {
      terminal_id: terminalId, offline_trace_no: trace, type: sale.type, card_no: sale.card_no,
      operator_no: state.me.operator_no, sold_at: saleTime(),
    };
    for (const field of ["amount", "points", "service_code"]) {
      if (sale[field] !== undefined && sale[field] !== null) item[field] = sale[field];
    }
    // The PIN sealed for this sale as the member confirmed it: its card, amount and time.
    item.sealed_pin = pin ? await seal(pin, kept.config.public_key, sealedFor(item)) : null;
    record = { key: `${terminalId}:${six(trace)}`, item, operator_name: state.me.name };
    await keep.addSale(record);
  } catch (err) {
    state.busy = false;
    return refusal({ message: `${t("离线交易未保存")}：${err.message || err}` }, standby, standby,
      sale);
  }
  state.busy = false;
  await countPending();
  done(record);
}

function figure(item) {
  return item.amount !== undefined ? `${t("金额")} ${item.amount}` : `${t("积分")} ${item.points}`;
}

function done(record) {
  const { item } = record;
  const kind = OFFLINE_TYPES[item.type];
  show({
    name: "offline-success", title: t(kind.title), code: kind.code, tone: "ok",
    lines: [t("交易成功（离线）"), `${t("离线凭证号")} ${six(item.offline_trace_no)}`, figure(item)],
    hint: t("按[重印]键看签购单，按输入键继续"),
    keys: { enter: standby, cancel: standby, reprint: () => slip(record, () => done(record)) },
  });
}

// The slip of an offline sale, drawn here (the server has not seen it): 离线 OFFLINE and its
// offline voucher number, for the browser to print.
function slip(record, back) {
  const { item } = record;
  const kind = OFFLINE_TYPES[item.type];
  const terminal = kept.terminal;
  const line = (key, label, labelCode, value, more = {}) => ({
    key, label, label_code: labelCode, value, value_code: "", money: false, translate: false,
    ...more,
  });
  const lines = [
    line("merchant_name", "商户名称", "MERCHANT NAME", terminal.merchant_name),
    line("merchant_id", "商户编号", "MERCHANT NO.", terminal.merchant_id),
    line("terminal_id", "终端编号", "TERMINAL ID", item.terminal_id),
    line("operator", "操作员", "OPERATOR", `${item.operator_no} ${record.operator_name || ""}`.trim()),
    line("card_no", "卡号", "CARD NO.", mask(item.card_no)),
    line("type", "交易类型", "TRANS TYPE", kind.title, { value_code: kind.code, translate: true }),
    line("offline_trace_no", "离线凭证号", "OFFLINE NO.", six(item.offline_trace_no)),
    line("date_time", "日期时间", "DATE/TIME", shopTime(new Date(item.sold_at))),
  ];
  if (item.service_code) {
    lines.push(line("service_code", "服务代码", "SERVICE CODE", item.service_code));
  }
  lines.push(item.amount !== undefined
    ? line("amount", "金额", "AMOUNT", item.amount, { money: true })
    : line("points", "积分", "POINTS", `+${item.points}`));
  drawSlip({
    receipt_title: terminal.receipt_title, voucher_no: six(item.offline_trace_no), voided: false,
    signature_required: item.type === "consume", lines,
    footer: [{ key: "offline_note", label: "", value: t("离线交易：联网上传后入账，以上传结果为准") }],
  }, back, { copy: `${t("离线")} OFFLINE`, local: true });
}

// 3.离线交易查询: what has not been uploaded, three a screen, then the count and totals.
async function query(page, back) {
  const sales = await keep.sales(kept.terminalId);
  const title = t("离线交易查询");
  if (!sales.length) {
    return message({ name: "offline-none", title, lines: [t("没有未上传的离线交易")], onEnter: back });
  }
  const pages = Math.ceil(sales.length / 3);
  if (page >= pages) {
    const sum = (type) => sales.filter((s) => s.item.type === type);
    const consumes = sum("consume");
    const earns = sum("points_earn");
    const money = consumes.reduce((total, s) => total + toFen(s.item.amount), 0);
    const points = earns.reduce((total, s) => total + (s.item.points || 0), 0);
    return message({
      name: "offline-totals", title: `${title} ${t("合计")}`,
      lines: [`${t("未上传")} ${sales.length} ${t("笔")}`,
        `${t("离线储值消费")} ${consumes.length}${t("笔")} ${yuan(money)}`,
        `${t("离线积分累加")} ${earns.length}${t("笔")} ${points}${t("分")}`],
      onEnter: back,
    });
  }
  const on = sales.slice(page * 3, page * 3 + 3);
  const short = { consume: t("消费"), points_earn: t("积分") };
  show({
    name: "offline-list", title: `${title} ${page + 1}/${pages}`,
    lines: on.map((s, i) => `${i + 1}.${six(s.item.offline_trace_no)} ${short[s.item.type]} ` +
      `${s.item.amount !== undefined ? s.item.amount : s.item.points}`),
    hint: t("按数字键查看一笔，按输入键翻页"),
    keys: {
      enter: () => query(page + 1, back), cancel: back,
      digit: (d) => on[Number(d) - 1] && oneSale(on[Number(d) - 1], () => query(page, back)),
    },
  });
}

function oneSale(record, back) {
  const { item } = record;
  const kind = OFFLINE_TYPES[item.type];
  show({
    name: "offline-sale", title: t(kind.title), code: kind.code,
    lines: [`${t("卡号")} ${item.card_no}`, `${t("离线凭证号")} ${six(item.offline_trace_no)}`,
      figure(item), shopTime(new Date(item.sold_at)).slice(0, 16)],
    hint: t("按[重印]键看签购单"),
    keys: { enter: back, cancel: back, reprint: () => slip(record, () => oneSale(record, back)) },
  });
}

// 4.批量离线交易上传: one by one, each outcome shown (and printed by the server where the
// terminal has a printer); 取消 stops after the one in hand, and it may be repeated: a sale is
// removed here only once the server has answered for it, and sending one again is answered
// with its first outcome.
async function upload(back) {
  const title = t("批量离线交易上传");
  if (!api.token) {
    return message({ name: "upload-signin", title,
      lines: [t("请联网签到后再上传")], onEnter: back });
  }
  const sales = await keep.sales(kept.terminalId);
  if (!sales.length) {
    return message({ name: "offline-none", title, lines: [t("没有待上传的离线交易")], onEnter: back });
  }
  const results = [];
  let stopped = null;
  const progress = (i, last) => show({
    name: "uploading", title, code: "UPLOAD",
    lines: [`${t("正在上传")} ${i + 1}/${sales.length}`, ...(last ? [last] : [])],
    hint: t("按<取消键>停止上传"),
    keys: { cancel: () => { stopped = stopped || t("已停止上传"); } },
  });
  for (const [i, sale] of sales.entries()) {
    if (stopped) break;
    const last = results.length ? outcomeLine(results[results.length - 1]) : null;
    progress(i, last);
    try {
      const out = await api.call("POST", "/offline/uploads", sale.item);
      await keep.removeSale(sale.key);
      results.push({ sale, out });
    } catch (err) {
      if (err.error === "offline") {
        stopped = t("网络中断");
      } else if (["not_signed_in", "terminal_locked", "transaction_disabled",
        "not_permitted"].includes(err.error)) {
        stopped = err.message;
      } else {
        results.push({ sale, err });  // kept here, not uploaded
      }
    }
  }
  await countPending();
  uploadResults(results, stopped, back);
}

function outcomeLine({ sale, out, err }) {
  const number = six(sale.item.offline_trace_no);
  if (out && out.status === "applied") {
    return `${number} ${t("交易成功")} ${t("凭证号")}${out.transaction.voucher_no}`;
  }
  if (out) return { text: `${number} ${t(out.message || "交易失败")}`, tone: "error" };
  return { text: `${number} ${t("未上传")}：${t(err.message || "")}`, tone: "error" };
}

function uploadResults(results, stopped, back, page = 0) {
  const title = t("上传结果");
  const pages = Math.ceil(results.length / 3);
  if (page >= pages) {
    const applied = results.filter((r) => r.out && r.out.status === "applied").length;
    const failed = results.filter((r) => r.out && r.out.status !== "applied").length;
    const lines = [`${t("上传成功")} ${applied} ${t("笔")}`,
      `${t("上传失败")} ${failed} ${t("笔")}${failed ? `（${t("请到后台离线对账处理")}）` : ""}`];
    if (kept.count) lines.push({ text: `${t("未上传")} ${kept.count} ${t("笔")}`, tone: "error" });
    if (stopped) lines.push({ text: stopped, tone: "error", small: true });
    return show({
      name: "upload-done", title, code: "UPLOAD", tone: kept.count || failed ? "error" : "ok",
      lines,
      hint: kept.count ? t("按输入键重新上传，按<取消键>退出")
        : printer.configured() ? t("上传结果已送打印机，按输入键继续") : t("按输入键继续…"),
      keys: {
        enter: kept.count ? () => upload(back) : back,
        cancel: back,
      },
    });
  }
  const on = results.slice(page * 3, page * 3 + 3);
  show({
    name: "upload-results", title: `${title} ${page + 1}/${pages}`, code: "UPLOAD",
    lines: on.map(outcomeLine), hint: t("按输入键翻页"),
    keys: {
      enter: () => uploadResults(results, stopped, back, page + 1),
      cancel: () => uploadResults(results, stopped, back, pages),
    },
  });
}

// ---------------------------------------------------------------- the network comes and goes

// Signed in offline and the server answers again: the page starts again online, in its
// session if the server still knows it, else at the sign-in (the standby of an offline
// session shows this once the signal is back).
export function backOnline() {
  message({
    name: "back-online", title: t("网络已恢复"),
    lines: [t("网络已恢复"), t("按输入键回到联网交易"),
      ...(kept.count ? [`${t("离线交易")} ${kept.count} ${t("笔待上传")}`] : [])],
    onEnter: () => window.location.reload(),
  });
}

// The signal turned (status.online): standby is drawn again for what it now is. Back online,
// a transaction left unanswered is settled first; an operator signed in offline signs in
// again; the kept configuration is refreshed, and the upload offered on standby.
status.onChange = (online) => {
  const onStandby = state.screen && ["standby", "offline-standby"].includes(state.screen.name);
  if (!online) {
    if (onStandby) standby();
    return;
  }
  if (state.offlineSession) {
    if (onStandby) backOnline();
    return;
  }
  offline.refresh();
  if (!onStandby) return;
  const pending = outbox.pending();
  if (pending && pending.sent !== false) return resume();
  standby();
  if (kept.count) status.notice(`${t("网络已恢复")}：${t("离线交易")} ${kept.count} ${t("笔待上传")}`);
};

setInterval(() => {
  if (status.isOnline) offline.refresh();
}, REFRESH_MS);

// The kept copy of the page, its modules and styles (templates/terminal/sw.js).
// A new release's worker takes over from the old one: the page reloads, at the next screen
// where nothing is being typed, so that it runs the new release's files together (the page
// came from the server, its modules from the old worker's copies).
export function installWorker(url) {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  const had = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!had) return;  // the first worker: the page is already the server's
    const idle = () => state.screen &&
      ["welcome", "standby", "offline-standby"].includes(state.screen.name);
    const reload = () => (idle() ? window.location.reload() : setTimeout(reload, 5000));
    reload();
  });
  navigator.serviceWorker.register(url, { scope: window.location.pathname })
    .catch(() => {});  // the page works online without it
}
