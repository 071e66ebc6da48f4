// Sign-in (签到 LOGON): the welcome screen, the operator's number and password, the
// terminal this browser is bound to, a default password changed right there; the
// terminal's record loaded for the session; and signing out.
import { $, config, t } from "./page.js";
import { api } from "./api.js";
import { ask, message, processing, refusal, show } from "./display.js";
import { printer } from "./printer.js";
import { swipes } from "./reader.js";
import { state } from "./state.js";
import { status } from "./status.js";
import { resume } from "./transactions.js";

const LOGON = { title: t("操作员签到"), code: "LOGON" };
const CHANGE = { title: t("修改密码"), code: "LOGON" };

export function logon() {
  api.signOut();
  swipes.stop();
  status.operator("");
  if (!binding.get()) return bindTerminal();
  show({
    name: "welcome", title: t("操作员签到"), code: "LOGON",
    lines: ["KKT1.0"], hint: t("请按输入键"),
    keys: { enter: askOperator, cancel: () => {} },
  });
}

function askOperator() {
  ask({
    name: "operator", title: t("操作(管理)员签到"), code: "LOGON",
    lines: [t("请输入操作员号码")], hint: t("按确认键继续.."), max: 2,
    onEnter: (no) => (no.length === 2 ? askPassword(no) : undefined), onCancel: logon,
  });
}

function askPassword(no) {
  ask({
    name: "password", title: t("操作员签到"), code: "LOGON",
    lines: [t("请输入密码")], hint: t("按<取消键>退出"), max: 8, mask: true,
    onEnter: (password) => signIn(no, password), onCancel: logon,
  });
}

// This browser's terminal: the shop's only keyless one, or the one bound with its key.
export const binding = {
  key: "kkt.terminal",
  get() {
    if (config.terminal_id) return { terminal_id: config.terminal_id };
    return JSON.parse(window.localStorage.getItem(this.key) || "null");
  },
  set(terminalId, terminalKey) {
    window.localStorage.setItem(this.key,
      JSON.stringify({ terminal_id: terminalId, terminal_key: terminalKey }));
  },
  forget() {
    window.localStorage.removeItem(this.key);
  },
};

function bindTerminal(reason) {
  api.signOut();
  ask({
    name: "bind-terminal", title: t("绑定终端"),
    lines: [reason || t("本机尚未绑定终端"), t("请输入终端号")], max: 8,
    onCancel: () => bindTerminal(reason),
    onEnter: (terminalId) => (terminalId.length !== 8 ? undefined : ask({
      name: "terminal-key", title: t("绑定终端"), lines: [t("请输入终端密钥")],
      max: 16, mask: true, onCancel: () => bindTerminal(reason),
      onEnter: async (terminalKey) => {
        try {
          await processing(() => api.call("POST", `/terminals/${terminalId}/bind`,
            { terminal_key: terminalKey }));
          binding.set(terminalId, terminalKey);
          logon();
        } catch (err) {
          refusal(err, () => bindTerminal(reason), () => bindTerminal(reason),
            { title: t("绑定终端") });
        }
      },
    })),
  });
}

async function signIn(no, password) {
  const body = { operator_no: no, password };
  const bound = binding.get();
  if (!bound) return bindTerminal();
  body.terminal_id = bound.terminal_id;
  if (bound.terminal_key) body.terminal_key = bound.terminal_key;
  try {
    // The manual's staged connection messages (图2-4 … 2-6), then 签到成功.
    show({ name: "connecting", title: t("操作员签到"), code: "LOGON", lines: [t("正在建立连接…")],
      hint: t("按<取消键>退出"), keys: {} });
    const session = await processing(() => api.call("POST", "/session", body));
    api.signedIn(session.token);
    state.me = session;
    status.operator(`${session.operator_no} ${session.name}`);
    await loadTerminal();
    swipes.start();
    // The sign-in an operator may reuse offline, and what the terminal keeps for it.
    await state.offline.remember(session);
    state.offline.refresh();
    message({
      name: "signed-in", title: t("签到"), code: "LOGON", lines: [t("签到成功")],
      onEnter: resume,
    });
  } catch (err) {
    if (err.error === "password_change_required") return newPassword(no, password);
    if (["terminal_key_required", "wrong_terminal_key", "terminal_not_found",
      "terminal_required"].includes(err.error)) {
      binding.forget();
      return bindTerminal(err.message);
    }
    // No new sign-in offline: the last one on this terminal may be reused, if it was this
    // operator's and is recent enough.
    if (err.error === "offline" && (await state.offline.reusable(no))) {
      return message({
        name: "offline-signin", title: t("操作员签到"), code: "LOGON", tone: "error",
        lines: [t("网络中断，不能签到"), t("可沿用本机上次签到进行离线交易")],
        onEnter: () => state.offline.resume(), onCancel: logon,
      });
    }
    refusal(err, askOperator, logon, LOGON);
  }
}

// A default password must be changed right there, before the first session.
function newPassword(no, old) {
  ask({
    name: "new-password", title: t("修改密码"), code: "LOGON",
    lines: [t("初始密码必须先修改"), t("请输入新密码")], max: 8, mask: true,
    onCancel: logon,
    onEnter: (first) => ask({
      name: "new-password-again", title: t("修改密码"), code: "LOGON",
      lines: [t("请再次输入新密码")], max: 8, mask: true, onCancel: logon,
      onEnter: async (second) => {
        if (first !== second) {
          return refusal({ message: t("两次输入的密码不一致") }, () => newPassword(no, old), logon,
            CHANGE);
        }
        try {
          await processing(() => api.call("POST", `/staff/${no}/password`,
            { old_password: old, new_password: first }));
          signIn(no, first);
        } catch (err) {
          refusal(err, () => newPassword(no, old), logon, CHANGE);
        }
      },
    }),
  });
}

export async function loadTerminal() {
  state.terminal = await api.call("GET", "/terminal");
  printer.update(state.terminal.printer);
  state.shop.enabled_types = state.terminal.enabled_types;
  $("st-terminal").textContent = state.terminal.terminal_id;
  // The terminal's language (a terminal parameter): the page reloads in it if need be.
  if (state.terminal.language !== config.language) {
    const url = new URL(window.location.href);
    url.searchParams.set("lang", state.terminal.language);
    window.location.replace(url);
    await new Promise(() => {});  // the page is leaving
  }
}

export async function signOut() {
  await state.offline.forget();  // no one's sign-in left here to reuse offline
  try {
    await api.call("DELETE", "/session");
  } catch (err) {
    // signed out either way
  }
  state.me = null;
  logon();
}
