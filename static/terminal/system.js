// The system operator's screens (系统设置, 99): their own menu, the terminal's parameters (the
// receipt printer's among them), the communication, the transactions enabled, the terminal's
// key and their own password. Reached two ways: the system operator signed in (99 at sign-in:
// the menu is their home, 9.签退 signs them out), or the main menu's 8 with the system
// operator's password, where the operator stays signed in: the system operator's short-lived
// session (POST /session/system, kept in memory only) does the settings, and leaving them
// (取消, 9.返回, or a changed password) ends it and goes back to the operator's menu.
import { config, t } from "./page.js";
import { api } from "./api.js";
import { ask, choose, message, processing, refusal, twice } from "./display.js";
import { printer } from "./printer.js";
import { printJob } from "./printing.js";
import { binding, loadTerminal, logon, signOut } from "./signin.js";
import { menu, state } from "./state.js";
import { status } from "./status.js";
import { TYPES } from "./transactions.js";

const SYSTEM = { title: t("系统设置") };
// The system operator's session opened from the operator's, while it lasts.
let opened = null;

// 8.系统设置 from the operator's menu: the system operator's password.
export function systemSignIn() {
  ask({
    name: "system-password", ...SYSTEM, lines: [t("请输入系统操作员密码")], max: 8,
    mask: true, onCancel: () => menu(0),
    onEnter: async (password) => {
      if (!password) return;
      try {
        opened = await processing(() => api.call("POST", "/session/system", { password }));
      } catch (err) {
        return refusal(err, systemSignIn, () => menu(0), SYSTEM);
      }
      api.elevate(opened.token);
      status.operator(`${opened.operator_no} ${opened.name}`);
      systemMenu();
    },
  });
}

// Back to the operator's menu, still signed in as the operator; the terminal's record read
// again for the parameters changed (a new language reloads the page in it).
async function leave() {
  opened = null;
  api.drop();
  status.operator(`${state.me.operator_no} ${state.me.name}`);
  try {
    await processing(loadTerminal);
    await state.offline.refresh();  // the offline switches, as they may have changed
  } catch (err) {
    // the menu as it was: the record is read again at the next sign-in
  }
  menu(0);
}

export function systemMenu() {
  const inside = api.elevated !== null;  // opened from the operator's menu
  choose({
    name: "system-menu", title: t("系统管理"),
    lines: [`1.${t("终端参数设置")}`, `2.${t("通讯参数设置")}`, `3.${t("交易参数设置")}`,
      `4.${t("终端密钥管理")}`, `5.${t("修改管理员密码")}`,
      `9.${inside ? t("返回") : t("签退")}`],
    options: {
      1: terminalParameters,
      2: () => message({
        name: "communication", title: t("通讯参数设置"),
        lines: [`${t("服务器")} ${window.location.host}`, `${t("超时")} 30s`],
        onEnter: systemMenu,
      }),
      3: transactionParameters,
      4: () => message({
        name: "rotate-key", title: t("终端密钥管理"),
        lines: [t("按输入键为本终端生成新密钥"), t("旧密钥立即失效")],
        onEnter: async () => {
          try {
            const answer = await processing(() => api.call("POST",
              `/terminals/${state.terminal.terminal_id}/key`, {}));
            // This browser is the terminal: it keeps the new key itself.
            config.terminal_id = null;
            binding.set(answer.terminal_id, answer.terminal_key);
            message({ name: "new-key", title: t("终端密钥管理"), tone: "ok",
              lines: [t("新密钥（只显示这一次）："), answer.terminal_key], onEnter: systemMenu });
          } catch (err) {
            refusal(err, systemMenu, systemMenu, { title: t("终端密钥管理") });
          }
        },
        onCancel: systemMenu,
      }),
      5: () => ask({
        name: "old-password", title: t("修改管理员密码"), lines: [t("请输入原密码")], max: 8,
        mask: true, onCancel: systemMenu,
        onEnter: (old) => twice({
          name: "system-password-new", title: t("修改管理员密码"), lines: [t("请输入新密码")],
          save: (pw) => api.call("POST", `/staff/${(inside ? opened : state.me).operator_no}/password`,
            { old_password: old, new_password: pw }),
          back: systemMenu,
          // A changed password ends the system operator's sessions: signed in as 99, sign in
          // again; from the operator's menu, back to it.
          done: inside ? leave : logon,
        }),
      }),
      9: inside ? leave : signOut,
    },
    // The system operator's own menu is their home; opened from the operator's, 取消 leaves.
    onCancel: inside ? leave : systemMenu,
  });
}

const onOff = (v) => (v ? t("开") : t("关"));

// 终端参数设置, over three pages (输入 turns the page; the third is the receipt printer's).
async function terminalParameters(page = 0) {
  const p = await api.call("GET", "/terminal");
  printer.update(p.printer);
  const again = () => terminalParameters(page);
  const save = async (work) => {
    try {
      await processing(work);
      state.terminal = await api.call("GET", "/terminal");
      printer.update(state.terminal.printer);
      again();
    } catch (err) {
      refusal(err, again, again, { title: t("终端参数设置") });
    }
  };
  const set = (change) => save(() => api.call("PUT", `/terminals/${p.terminal_id}`, change));
  if (page === 2) return printerParameters(p, set, again);
  if (page === 1) {
    return choose({
      name: "terminal-parameters-2", title: `${t("终端参数设置")} 2/3`,
      lines: [`${t("终端号")} ${p.terminal_id}`, `6.${t("语言")} ${p.language === "en" ? "English" : "中文"}`,
        `7.${t("商户号")} ${p.merchant_id}`, `${t("商户名")} ${p.merchant_name}`,
        `${t("签购单名")} ${p.receipt_title}`],
      hint: t("确认-翻页    X-返回"),
      options: {
        6: () => set({ language: p.language === "en" ? "zh" : "en" }),
        7: () => ask({
          name: "merchant-id", title: t("商户号"), lines: [t("请输入 15 位商户号")], max: 15,
          onCancel: again,
          onEnter: (id) => (id ? save(() => api.call("PUT", "/settings", { merchant_id: id }))
            : undefined),
        }),
      },
      onEnter: () => terminalParameters(2), onCancel: systemMenu,
    });
  }
  choose({
    name: "terminal-parameters", title: `${t("终端参数设置")} 1/3`, hint: t("确认-翻页    X-返回"),
    onEnter: () => terminalParameters(1),
    lines: [`1.${t("签购单联数")} ${p.receipt_copies}`,
      `2.${t("待机交易")} ${p.standby_type === "consume" ? t("储值消费") : t("积分累加")}`,
      `3.${t("手输卡号")} ${onOff(p.manual_entry)}`,
      `4.${t("服务代码")} ${onOff(p.service_code_prompt)}`,
      `5.${t("流水号")} ${p.next_trace_no}`],
    options: {
      1: () => set({ receipt_copies: p.receipt_copies === 2 ? 1 : 2 }),
      2: () => set({ standby_type: p.standby_type === "consume" ? "points_earn" : "consume" }),
      3: () => set({ manual_entry: !p.manual_entry }),
      4: () => set({ service_code_prompt: !p.service_code_prompt }),
      5: () => ask({
        name: "trace-no", title: t("流水号"), lines: [t("请输入流水号")], max: 6,
        onCancel: terminalParameters,
        onEnter: (n) => (n ? set({ next_trace_no: Number(n) }) : undefined),
      }),
    },
    onCancel: systemMenu,
  });
}

// 终端参数设置 3/3, 打印机设置: the receipt printer's address and how it prints. The
// network printer's IP is typed with the digits and 功能 for "."; empty means no printer.
const ENCODINGS = ["gb18030", "gbk", "utf-8"];
const IPV4 = /^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

function printerParameters(p, set, again) {
  // The address on a line of its own, then the options in two columns (terminal.css).
  choose({
    name: "terminal-parameters-3", title: `${t("终端参数设置")} 3/3`, code: t("打印机设置"),
    hint: t("确认-翻页    X-返回"),
    lines: [`${t("地址")} ${p.printer_url}`,
      `1.${t("纸宽")} ${p.paper_mm}mm`, `2.${t("编码")} ${p.printer_encoding}`,
      `3.${t("中文模式")} ${onOff(p.printer_chinese_mode)}`,
      `4.${t("图片打印")} ${onOff(p.printer_image)}`,
      `5.${t("切纸")} ${onOff(p.printer_cut)}`, `6.${t("打印机 IP")}`, `7.${t("测试打印")}`],
    options: {
      1: () => set({ paper_mm: p.paper_mm === 58 ? 80 : 58 }),
      2: () => set({ printer_encoding:
        ENCODINGS[(ENCODINGS.indexOf(p.printer_encoding) + 1) % ENCODINGS.length] }),
      3: () => set({ printer_chinese_mode: !p.printer_chinese_mode }),
      4: () => set({ printer_image: !p.printer_image }),
      5: () => set({ printer_cut: !p.printer_cut }),
      6: () => printerAddress(p, set, again),
      7: () => printJob("test", again),
    },
    onEnter: () => terminalParameters(0), onCancel: systemMenu,
  });
}

function printerAddress(p, set, again) {
  const current = /^tcp:\/\/([0-9.]+)(:9100)?$/.exec(p.printer_url);
  ask({
    name: "printer-ip", title: t("打印机 IP"), code: "TCP 9100",
    lines: [t("请输入打印机 IP 地址"), `${t("地址")} ${current ? current[1] : p.printer_url}`],
    hint: t("按[功能]键输入“.”，为空则不用打印机"), max: 15, funcTypes: ".",
    onCancel: again,
    onEnter: (ip) => {
      if (!ip) return set({ printer_url: "none" });
      if (!IPV4.test(ip)) {
        return message({
          name: "bad-ip", title: t("打印机 IP"), tone: "error",
          lines: [t("IP 地址不正确"), ip, t("例如 192.168.1.50")],
          onEnter: () => printerAddress(p, set, again), onCancel: again,
        });
      }
      set({ printer_url: `tcp://${ip}:9100` });
    },
  });
}

const TRANSACTION_PARAMETERS = { title: t("交易参数设置") };

// The manual's 交易管理: each transaction type on or off, 清流水, and (section 6) the three
// offline ones: 离线储值消费, 离线积分累加, 批量离线交易上传.
const OFFLINE_SWITCHES = [["consume", "离线储值消费"], ["points_earn", "离线积分累加"],
  ["upload", "批量离线交易上传"]];

async function transactionParameters() {
  let settings;
  try {
    settings = await api.call("GET", "/settings");
  } catch (err) {
    return refusal(err, systemMenu, systemMenu, TRANSACTION_PARAMETERS);
  }
  const types = Object.keys(TYPES);
  const on = new Set(settings.enabled_types);
  const offline = new Set(settings.offline_types);
  const save = async (change) => {
    try {
      await processing(() => api.call("PUT", "/settings", change));
      transactionParameters();
    } catch (err) {
      refusal(err, transactionParameters, transactionParameters, TRANSACTION_PARAMETERS);
    }
  };
  const flip = (set, value) => (set.has(value) ? set.delete(value) : set.add(value));
  choose({
    name: "transaction-parameters", title: t("交易参数设置"),
    lines: [...types.map((type, i) => `${i + 1}.${t(TYPES[type].title)} ${onOff(on.has(type))}`),
      `5.${t("清流水")}`,
      ...OFFLINE_SWITCHES.map(([key, label], i) => `${i + 6}.${t(label)} ${onOff(offline.has(key))}`)],
    options: {
      ...Object.fromEntries(types.map((type, i) => [String(i + 1), () => {
        flip(on, type);
        save({ enabled_types: types.filter((x) => on.has(x)) });
      }])),
      // 清流水: this terminal's transaction query starts afresh; the journal keeps every row.
      5: async () => {
        try {
          await processing(() => api.call("PUT", `/terminals/${state.terminal.terminal_id}`,
            { clear_journal_view: true }));
          message({ name: "saved", title: t("清流水"), tone: "ok", lines: [t("设置成功")],
            onEnter: transactionParameters });
        } catch (err) {
          refusal(err, transactionParameters, transactionParameters, TRANSACTION_PARAMETERS);
        }
      },
      ...Object.fromEntries(OFFLINE_SWITCHES.map(([key], i) => [String(i + 6), () => {
        flip(offline, key);
        save({ offline_types: OFFLINE_SWITCHES.map(([k]) => k).filter((k) => offline.has(k)) });
      }])),
    },
    onCancel: systemMenu,
  });
}
