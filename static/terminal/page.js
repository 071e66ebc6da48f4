// What the server put in the page: the terminal's element and its configuration
// (data-config), and the message catalogue (#catalogue). Every string on screen comes from
// that catalogue: t("请刷卡") looks one up.
export const root = document.getElementById("terminal");
const M = JSON.parse(document.getElementById("catalogue").textContent);
export const t = (msgid) => M[msgid] || msgid;
export const $ = (id) => document.getElementById(id);
export const config = JSON.parse(root.dataset.config);
// The server's code tables (kakatong/store/codes.py): every type, status and payment method
// with its name, never a copy kept here.
export const codes = config.codes;
