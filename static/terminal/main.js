// The cashier's terminal (卡卡通 POS): screens and keys of the POS operator manual, over the
// JSON API. No build step, no inline script: the page loads this module, which connects the
// others (one per area) and starts. Every string comes from the message catalogue the
// server embeds in the page (#catalogue); t("请刷卡") looks one up (page.js).
import { api } from "./api.js";
import { fit } from "./display.js";
import { menu, standby } from "./home.js";
import { listen } from "./keys.js";
import { locked } from "./management.js";
import { installWorker, offline } from "./offline.js";
import { root } from "./page.js";
import { swipes } from "./reader.js";
import { binding, loadTerminal, logon } from "./signin.js";
import { setHome, state } from "./state.js";
import { status } from "./status.js";
import { resume } from "./transactions.js";

setHome({ standby, menu });
listen();
window.addEventListener("resize", fit);

setInterval(status.clock, 1000 * 15);
status.clock();
setInterval(() => api.call("GET", "/health").catch(() => {}), 5000);

// The page opens with the server or without it (离线交易): without it, an operator's last
// sign-in on this terminal may be reused to sell offline (offline.js).
async function start() {
  const bound = binding.get();
  const loaded = offline.load(bound && bound.terminal_id);
  if (!api.token) {
    logon();
    await loaded;
    const welcome = () => state.screen && state.screen.name === "welcome";
    if (welcome() && !(await api.reachable()) && welcome()) await offline.resume();
    return;
  }
  try {
    const session = await api.call("GET", "/session");
    state.me = session;
    status.operator(`${session.operator_no} ${session.name}`);
    if (session.locked) return locked();
    await loadTerminal();
  } catch (err) {
    await loaded;
    if (err.error === "offline" && (await offline.resume())) return;
    return logon();
  }
  await loaded;
  swipes.start();
  offline.refresh();
  resume();
}

installWorker(root.dataset.sw);
start();
