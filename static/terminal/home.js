// Home: standby (请刷卡, where a swipe starts the terminal's default transaction) and the
// main menu, from which every flow starts. The other modules reach these two through
// state.js (main.js connects them).
import { t } from "./page.js";
import { api, outbox } from "./api.js";
import { show } from "./display.js";
import { management } from "./management.js";
import { backOnline, offlineStandby, uploadOffer } from "./offline.js";
import { printerTrouble } from "./printing.js";
import { settlement } from "./settlement.js";
import { logon } from "./signin.js";
import { state } from "./state.js";
import { status } from "./status.js";
import { supervisorMenu } from "./supervisor.js";
import { systemMenu, systemSignIn } from "./system.js";
import { resume, startTransaction } from "./transactions.js";
import { query, voidFlow } from "./void-query.js";

// Home is the signed-in staff member's: a system operator's session opened from the main
// menu (system.js) ends on the way, whichever way the settings were left.
function backHome() {
  if (!api.elevated) return;
  api.drop();
  if (state.me) status.operator(`${state.me.operator_no} ${state.me.name}`);
}

// Home: standby for operators; the supervisor's and the system operator's own menus; the
// offline standby while the server cannot be reached, or signed in offline (offline.js).
export function standby() {
  backHome();
  if (state.offlineSession) return status.isOnline ? backOnline() : offlineStandby();
  if (!api.token) return logon();
  if (!status.isOnline && state.me && state.me.role !== "sysadmin") return offlineStandby();
  // A transaction sent and never answered is settled first, once the box answers again.
  const pending = outbox.pending();
  if (pending && pending.sent !== false) return resume();
  if (state.me && state.me.role === "supervisor") return supervisorMenu();
  if (state.me && state.me.role === "sysadmin") return systemMenu();
  const trouble = printerTrouble();
  // Offline sales waiting: the upload is offered here, on the function key.
  const offer = uploadOffer();
  show({
    name: "standby",
    lines: [t("卡  卡  通"), t("请刷卡"), status.clock(), ...trouble.lines,
      ...(offer ? [offer.line] : [])],
    hint: trouble.hint || (offer ? offer.hint : ""), onPrinter: standby,
    keys: {
      enter: () => menu(0),
      trade: () => startTransaction("consume"),
      settle: settlement,
      func: offer ? offer.key : undefined,
      digit: () => {},
      cancel: () => {},
      // A swipe on standby starts the terminal's default transaction (待机默认交易).
      swipe: (card) => startTransaction(state.terminal.standby_type, card),
    },
  });
}

const MENU = [
  { key: "0", label: "储值消费", type: "consume" },
  { key: "1", label: "储值充值", type: "recharge" },
  { key: "2", label: "积分累加", type: "points_earn" },
  { key: "3", label: "积分消费", type: "points_redeem" },
  { key: "4", label: "交易撤销", run: () => voidFlow() },
  { key: "5", label: "储值查询", run: () => query("balance") },
  { key: "6", label: "积分查询", run: () => query("points") },
  { key: "7", label: "管    理", run: () => management() },
  { key: "8", label: "系统设置", run: () => systemSignIn() },
];

function menuItems() {
  return MENU.filter((item) => !item.type || state.shop.enabled_types.includes(item.type));
}

export function menu(page) {
  backHome();
  const items = menuItems();
  const pages = Math.max(1, Math.ceil(items.length / 3));
  const shown = items.slice(page * 3, page * 3 + 3);
  show({
    name: "menu", title: t("主菜单"), lines: shown.map((i) => `${i.key}.${t(i.label)}`),
    hint: t("确认-翻页    X-返回"),
    keys: {
      enter: () => menu((page + 1) % pages),
      cancel: () => (page === 0 ? standby() : menu(page - 1)),
      digit: (d) => {
        const item = items.find((i) => i.key === d);
        if (item) (item.run || (() => startTransaction(item.type)))();
      },
    },
  });
}
