// The display: one screen at a time (show), and the screens the flows are made of: a typed
// field (ask), a message, a refusal, a numbered choice, a new password typed twice, and the
// processing screen that holds the keys while a request is in hand.
import { $, root, t } from "./page.js";
import { printer } from "./printer.js";
import { standby, state } from "./state.js";

// A screen is drawn as the POS draws it: a title with its English code, a few lines, the
// field being typed, a hint. `keys` maps key names to handlers.
export function show(next) {
  // The first screen drawn is when the page became usable (`make bench` reads this mark).
  if (!state.screen) performance.mark("kkt-ready");
  state.screen = next;
  $("title").textContent = next.title || "";
  $("code").textContent = next.code || "";
  const lines = $("lines");
  // A line is its text, or { text, tone: "error", small } for a line that stands out.
  lines.replaceChildren(...(next.lines || []).map((line) => {
    const div = document.createElement("div");
    if (typeof line !== "object") {
      div.textContent = line;
      return div;
    }
    div.textContent = line.text;
    if (line.tone) div.dataset.tone = line.tone;
    if (line.small) div.className = "small";
    return div;
  }));
  $("field").textContent = next.field === undefined ? "" : next.field;
  $("field").hidden = next.field === undefined;
  // A PIN's or password's stars stand in the middle, an amount to the right (terminal.css).
  $("field").dataset.kind = next.fieldKind || "";
  $("hint").textContent = next.hint || "";
  $("hint").dataset.tone = next.hintTone || "";
  $("slip").hidden = !next.slip;
  // A slip kept locally (an offline sale) has no copy on the server for its printer.
  $("slip-printer").hidden = !(next.slip === true && printer.configured());
  root.dataset.screen = next.name;
  root.dataset.tone = next.tone || "";
  fit();
}

// The lines as large as the display lets them be, to be read at arm's length: the largest
// step at which every line fits on one line; a screen of many lines gets smaller type, and a
// line too long even then wraps. Again when the window changes size (main.js).
const STEPS = [1.8, 1.6, 1.4, 1.25, 1.1, 0.95, 0.8];
export function fit() {
  const lines = $("lines");
  lines.classList.remove("wrap");
  for (const step of STEPS) {
    lines.style.fontSize = `${step}em`;
    if (lines.scrollHeight <= lines.clientHeight && lines.scrollWidth <= lines.clientWidth) return;
  }
  lines.classList.add("wrap");
}

function typed({ max, mask = false, money = false }) {
  let text = "";
  return {
    add(d) { if (text.length < max) text = (text + d).replace(/^0+(?=\d)/, money ? "" : "$&"); },
    back() { text = text.slice(0, -1); },
    value() { return text; },
    shown() {
      if (money) {
        const fen = text.padStart(3, "0");
        return `${Number(fen.slice(0, -2))}.${fen.slice(-2)}`;
      }
      return mask ? "*".repeat(text.length) : text;
    },
  };
}

// An input screen: digits type, 更正 corrects, 输入 confirms, 取消 leaves.
export function ask({ name, title, code, lines, hint, max, mask, money, onEnter, onCancel, onSwipe,
  funcTypes }) {
  const field = typed({ max, mask, money });
  const draw = () => show({
    name, title, code, lines, hint, field: field.shown(),
    fieldKind: mask ? "mask" : money ? "money" : "",
    keys: {
      digit: (d) => { field.add(d); draw(); },
      // The function key types a letter where a field takes one (the X of an ID number).
      func: funcTypes && (() => { field.add(funcTypes); draw(); }),
      correct: () => { field.back(); draw(); },
      enter: () => onEnter(field.value()),
      cancel: onCancel || standby,
      swipe: onSwipe,
    },
  });
  draw();
}

export function message({ name = "message", title, code, lines, tone, onEnter, onCancel }) {
  show({
    name, title, code, lines, tone,
    hint: t("按输入键继续…"),
    keys: { enter: onEnter || standby, cancel: onCancel || onEnter || standby },
  });
}

// An API refusal as its one clear sentence, under the title of the flow it ends (`head`:
// { title, code }; 交易失败 for a transaction); 输入 tries again where that makes sense, 取消
// goes back to a safe screen.
export function refusal(err, again = standby, leave = standby, head = {}) {
  message({
    name: "refusal", title: head.title || t("交易失败"), code: head.code, tone: "error",
    lines: [err.message || t("系统错误，请联系管理员")],
    onEnter: again, onCancel: leave,
  });
}

export async function processing(work) {
  state.busy = true;
  show({ name: "processing", lines: [t("已连接卡卡通中心"), t("处理中…"), t("请稍候")], keys: {} });
  try {
    return await work();
  } finally {
    state.busy = false;
  }
}

// A numbered list: a digit picks, 取消 leaves.
export function choose({ name, title, code, lines, hint, options, onCancel, onEnter }) {
  show({
    name, title, code, lines, hint,
    keys: {
      digit: (d) => options[d] && options[d](), cancel: onCancel || standby, enter: onEnter,
    },
  });
}

// A new password typed twice; `save(password)` sends it; `done` follows 设置成功 (`back` by
// default, where 取消 and a refusal go).
export function twice({ name, title, lines, max = 8, save, back, done = back }) {
  ask({
    name, title, lines, max, mask: true, onCancel: back,
    onEnter: (first) => {
      if (!first) return;
      ask({
        name: `${name}-again`, title, lines: [t("请再次输入新密码")], max, mask: true,
        onCancel: back,
        onEnter: async (second) => {
          if (first !== second) {
            return refusal({ message: t("两次输入的密码不一致") }, back, back, { title });
          }
          try {
            await processing(() => save(first));
            message({ name: "saved", title, tone: "ok", lines: [t("设置成功")], onEnter: done });
          } catch (err) {
            refusal(err, back, back, { title });
          }
        },
      });
    },
  });
}
