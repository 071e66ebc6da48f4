// The cashier's terminal (卡卡通 POS): screens and keys of the POS operator manual, over the
// JSON API. No build step, no inline script: the page loads this module, which connects the
// others (one per area) and starts. Every string comes from the message catalogue the
// server embeds in the page (#catalogue); t("请刷卡") looks one up (page.js).
import { api } from "./api.js";
import { fit } from "./display.js";
import { menu, standby } from "./home.js";
import { listen } from "./keys.js";
import { locked } from "./management.js";
import { swipes } from "./reader.js";
import { loadTerminal, logon } from "./signin.js";
import { setHome, state } from "./state.js";
import { status } from "./status.js";
import { resume } from "./transactions.js";

setHome({ standby, menu });
listen();
window.addEventListener("resize", fit);

setInterval(status.clock, 1000 * 15);
status.clock();
setInterval(() => api.call("GET", "/health").catch(() => {}), 5000);

async function start() {
  if (!api.token) return logon();
  try {
    const session = await api.call("GET", "/session");
    state.me = session;
    status.operator(`${session.operator_no} ${session.name}`);
    if (session.locked) return locked();
    await loadTerminal();
  } catch (err) {
    return logon();
  }
  swipes.start();
  resume();
}

start();
