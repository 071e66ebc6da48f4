// 管理 (the main menu's 7): 卡号绑定, 签到, 卡片管理, 锁定, 员工管理, 版本, 交易查询 (with a
// transaction's slip as a page), 打印 and 离线交易 (offline.js).
import { t } from "./page.js";
import { api } from "./api.js";
import { ask, choose, message, processing, refusal, show, twice } from "./display.js";
import { printer } from "./printer.js";
import { printJob } from "./printing.js";
import { swipes } from "./reader.js";
import { fetchReceipt, slipView } from "./receipt.js";
import { offlineMenu } from "./offline.js";
import { logon } from "./signin.js";
import { menu, standby, state } from "./state.js";
import { askCard, TYPES } from "./transactions.js";

export function management() {
  const item = (k, label) => `${k}.${t(label)}`.padEnd(8, "\u3000");
  choose({
    name: "management", title: t("管理"),
    lines: [`${item(1, "卡号绑定")} ${item(2, "签到")}`, `${item(3, "卡片管理")} ${item(4, "锁定")}`,
      `${item(5, "员工管理")} ${item(6, "版本")}`, `${item(7, "交易查询")} ${item(8, "打印")}`,
      item(9, "离线交易")],
    options: {
      1: bindCard, 2: logon, 3: cardManagement, 4: lock, 5: staffPasswords, 6: versionScreen,
      7: transactionQuery, 9: () => offlineMenu(management),
      // 打印: the batch's journal or its totals, on the terminal's printer.
      8: () => (printer.configured() ? choose({
        name: "print-menu", title: t("打印"), lines: [`1.${t("打印流水")}`, `2.${t("打印汇总")}`],
        options: { 1: () => printJob("journal", management), 2: () => printJob("totals", management) },
        onCancel: management,
      }) : message({ name: "no-printer", title: t("打印"), lines: [t("未配置打印机")],
        onEnter: management })),
    },
    onCancel: () => menu(0),
  });
}

// 卡号绑定: a phone number (or an ID number) to the card; an empty number unbinds the phone.
function bindCard() {
  const flow = { title: t("卡号绑定"), code: "BIND" };
  askCard(flow, () => ask({
    name: "pin", title: flow.title, lines: [t("请输入密码")], hint: t("无密码按[输入]键"),
    max: 6, mask: true, onCancel: management,
    onEnter: (pin) => choose({
      name: "bind-what", title: flow.title,
      lines: [`1.${t("手机号码")}`, `2.${t("身份证")}`],
      options: {
        1: () => bindNumber(flow, pin, "phone", t("请输入手机号码：")),
        2: () => bindNumber(flow, pin, "id_number", t("请输入身份证号码：")),
      },
      onCancel: management,
    }),
  }));
}

function bindNumber(flow, pin, field, prompt) {
  ask({
    name: "bind-number", title: flow.title, lines: [prompt],
    hint: field === "phone" ? t("为空则解绑") : t("按[功能]键输入 X"), max: 18,
    funcTypes: field === "id_number" ? "X" : undefined, onCancel: management,
    onEnter: async (number) => {
      try {
        await processing(() => api.call("PUT", `/cards/${flow.card_no}/${field}`,
          { [field]: number, pin: pin || null }));
        message({ name: "saved", title: flow.title, tone: "ok", lines: [t("设置成功")],
          onEnter: management });
      } catch (err) {
        refusal(err, management, management, flow);
      }
    },
  });
}

// 卡片管理: activate a card of the shop's stock (with its first PIN), or reset a PIN.
function cardManagement() {
  choose({
    name: "card-management", title: t("卡片管理"),
    lines: [`1.${t("激活")}`, `2.${t("密码重置")}`],
    options: {
      1: () => {
        const flow = { title: t("激活"), code: "ACTIVATE" };
        askCard(flow, () => newPin(flow, (pin) => api.call("POST", "/cards",
          { card_no: flow.card_no, pin: pin || null })), undefined, { lookup: false });
      },
      2: () => {
        const flow = { title: t("密码重置"), code: "RESET" };
        askCard(flow, () => ask({
          name: "supervisor", title: flow.title, lines: [t("请输入主管密码")], max: 8,
          mask: true, onCancel: management,
          onEnter: (password) => newPin(flow, (pin) => api.call("POST",
            `/cards/${flow.card_no}/pin/reset`, { new_pin: pin || null, supervisor_password: password })),
        }));
      },
    },
    onCancel: management,
  });
}

// A card PIN: six digits, typed twice; 输入 on an empty field sets none.
function newPin(flow, save) {
  ask({
    name: "new-pin", title: flow.title, lines: [t("请输入新密码")], hint: t("无密码按[输入]键"),
    max: 6, mask: true, onCancel: management,
    onEnter: (first) => {
      if (first && first.length !== 6) return;
      const done = async () => {
        try {
          await processing(() => save(first));
          message({ name: "saved", title: flow.title, tone: "ok", lines: [t("设置成功")],
            onEnter: management });
        } catch (err) {
          refusal(err, management, management, flow);
        }
      };
      if (!first) return done();
      ask({
        name: "new-pin-again", title: flow.title, lines: [t("请再次输入新密码")], max: 6,
        mask: true, onCancel: management,
        onEnter: (second) => (second === first ? done()
          : refusal({ message: t("两次输入的密码不一致") }, management, management, flow)),
      });
    },
  });
}

// 员工管理: an operator's new password, authorised by the supervisor's password. Each entry is
// checked when it is typed (POST /staff/authorise): a wrong supervisor password is refused
// before the operator's number is asked, an unknown number before the new password.
const STAFF = { title: t("员工管理") };

function staffPasswords() {
  ask({
    name: "supervisor", title: STAFF.title, lines: [t("请输入主管密码")], max: 8, mask: true,
    onCancel: management,
    onEnter: async (supervisor) => {
      if (!supervisor) return;
      try {
        await processing(() => api.call("POST", "/staff/authorise",
          { supervisor_password: supervisor }));
      } catch (err) {
        return refusal(err, staffPasswords, management, STAFF);
      }
      staffOperator(supervisor);
    },
  });
}

function staffOperator(supervisor) {
  const again = () => staffOperator(supervisor);
  ask({
    name: "operator-no", title: STAFF.title, lines: [t("请输入操作员号码")], max: 2,
    onCancel: management,
    onEnter: async (no) => {
      if (no.length !== 2) return;
      let operator;
      try {
        operator = await processing(() => api.call("POST", "/staff/authorise",
          { supervisor_password: supervisor, operator_no: no }));
      } catch (err) {
        return refusal(err, again, management, STAFF);
      }
      twice({
        name: "operator-password", title: STAFF.title,
        lines: [`${operator.operator_no} ${operator.name}`, t("请输入新密码")],
        save: (pw) => api.call("PUT", `/staff/${no}/password`,
          { new_password: pw, supervisor_password: supervisor }),
        back: management,
      });
    },
  });
}

// 交易查询: this terminal's current batch, three rows a screen, then its totals.
async function transactionQuery(page = 0) {
  let batch;
  try {
    batch = await api.call("GET", "/batch");
  } catch (err) {
    return refusal(err, management, management, { title: t("交易查询") });
  }
  const rows = batch.transactions;
  const pages = Math.ceil(rows.length / 3);
  if (page >= pages) {
    const x = batch.types;
    return message({
      name: "batch-totals", title: `${t("交易汇总")} ${batch.batch_no}`,
      lines: [`${t("储值消费")} ${x.consume.count}${t("笔")} ${x.consume.amount}`,
        `${t("储值充值")} ${x.recharge.count}${t("笔")} ${x.recharge.amount}`,
        `${t("积分累加")} ${x.points_earn.count}${t("笔")} ${x.points_earn.points}`,
        `${t("积分消费")} ${x.points_redeem.count}${t("笔")} ${x.points_redeem.points}`],
      onEnter: management,
    });
  }
  const label = (r) => (TYPES[r.type] ? t(TYPES[r.type].title) : t("撤销"));
  const on = rows.slice(page * 3, page * 3 + 3);
  const shown = on.map((r, i) =>
    `${i + 1}.${r.voucher_no} ${label(r)} ${r.amount !== "0.00" ? r.amount : r.points}${r.status === "voided" ? " " + t("已撤销") : ""}`);
  // 输入 pages down (as the manual says), a digit opens that transaction.
  show({
    name: "batch-list", title: `${t("交易明细")} ${page + 1}/${pages}`, lines: shown,
    hint: t("按数字键查看一笔，按输入键翻页"),
    keys: {
      enter: () => transactionQuery(page + 1), cancel: management,
      digit: (d) => on[Number(d) - 1] && oneTransaction(on[Number(d) - 1], page),
    },
  });
}

// One transaction of the batch, as its receipt says it; 重印 opens the receipt as a page.
async function oneTransaction(r, page) {
  const back = () => transactionQuery(page);
  const slip = await fetchReceipt(r.voucher_no, back);
  if (!slip) return;
  const figure = slip.amount !== null ? `${t("金额")} ${slip.amount}` : `${t("积分")} ${slip.points}`;
  show({
    name: "transaction", title: `${t(slip.type_name)}${slip.voided ? " " + t("已撤销") : ""}`,
    code: slip.type_code,
    lines: [`${t("卡号")} ${slip.card_no}`, `${t("凭证号")} ${slip.voucher_no}  ${t("流水号")} ${slip.trace_no}`,
      figure, `${slip.date} ${slip.time.slice(0, 5)}`],
    hint: t("按[重印]键打印签购单"),
    keys: {
      enter: back, cancel: back,
      reprint: () => slipView(r.voucher_no, () => oneTransaction(r, page)),
    },
  });
}

async function lock() {
  try {
    await api.call("POST", "/session/lock", {});
  } catch (err) {
    return refusal(err, management, management, { title: t("锁定") });
  }
  await state.offline.forget();  // a reload without the server must not get past the lock
  locked();
}

// Locked (锁定): only the signed-in operator's password opens the terminal again. The lock is
// kept by the server, so a reload shows this screen again.
export function locked() {
  ask({
    name: "locked", title: t("锁定"), lines: [t("终端已锁定"), t("请输入操作员密码")],
    max: 8, mask: true, onCancel: locked,
    onEnter: async (password) => {
      try {
        await processing(() => api.call("POST", "/session/unlock", { password }));
        await state.offline.remember(state.me);
        swipes.start();
        standby();
      } catch (err) {
        refusal(err, locked, locked, { title: t("锁定") });
      }
    },
  });
}

async function versionScreen() {
  try {
    const v = await api.call("GET", "/version");
    message({
      name: "version", title: t("版本"),
      lines: [`${t("终端号")} ${v.terminal_id}`, `${t("商户号")} ${v.merchant_id}`,
        v.merchant_name, `${t("软件版本")} ${v.version}`],
      onEnter: () => management(),
    });
  } catch (err) {
    refusal(err, management, management, { title: t("版本") });
  }
}
