// The page's shared state, kept here and nowhere else: who is signed in, this terminal's
// record, the screen on display; and the way back home for every flow. (The terminal's last
// receipt is the server's: GET /terminal/receipt.)
export const store = window.sessionStorage;

export const state = {
  me: null,  // the session: operator_no, name, role
  terminal: null,  // GET /terminal: its parameters, its merchant, its printer
  shop: { enabled_types: [] },
  screen: null,  // the screen on display (display.js)
  busy: false,  // a request in hand: the keys wait for it
  // 离线交易 (offline.js): the offline flows an online one may turn into, and whether the
  // operator is signed in offline (the last sign-in reused, no session on the server).
  offline: null,
  offlineSession: false,
};

// Standby and the main menu (home.js) sit above every flow, and every flow goes back to them:
// the flows call these, which main.js points at home.js's screens before the first screen is
// drawn, so that no module imports one above it.
const home = { standby: null, menu: null };
export const setHome = (screens) => Object.assign(home, screens);
export const standby = () => home.standby();
export const menu = (page) => home.menu(page);
