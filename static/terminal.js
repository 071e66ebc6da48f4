// The cashier's terminal (卡卡通 POS): screens and keys of the POS operator manual, over the
// JSON API. No build step, no inline script. Every string comes from the message catalogue
// the server embeds in the page (#catalogue); t("请刷卡") looks one up.
"use strict";

(() => {
  const root = document.getElementById("terminal");
  const M = JSON.parse(document.getElementById("catalogue").textContent);
  const t = (msgid) => M[msgid] || msgid;
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse(root.dataset.config);

  // ------------------------------------------------------------------ the API

  const store = window.sessionStorage;
  const api = {
    token: store.getItem("kkt.token"),
    async call(method, path, body) {
      const headers = { "Content-Type": "application/json" };
      if (this.token) headers.Authorization = "Bearer " + this.token;
      let response;
      try {
        response = await fetch("/api/v1" + path, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        status.online(false);
        throw { error: "offline", message: t("网络中断，请稍后重试") };
      }
      status.online(true);
      const data = response.status === 204 ? {} : await response.json();
      if (!response.ok) throw data;
      return data;
    },
    signedIn(token) {
      this.token = token;
      store.setItem("kkt.token", token);
    },
    signOut() {
      this.token = null;
      store.removeItem("kkt.token");
    },
  };

  // A transaction request is created once, when the cashier confirms, and kept (with its
  // request_id) until its answer arrives: sending it again, after a double tap, a slow
  // network or a reload, can only be answered with the same result. It holds the PIN, so it
  // is kept in this tab's sessionStorage (gone with the browser), never in localStorage.
  const outbox = {
    key: "kkt.pending",
    create(path, body) {
      const request = { path, body: { ...body, request_id: newRequestId() } };
      store.setItem(this.key, JSON.stringify(request));
      return request;
    },
    pending() {
      const text = store.getItem(this.key);
      return text ? JSON.parse(text) : null;
    },
    async send(request) {
      try {
        const record = await api.call("POST", request.path, request.body);
        this.done();
        return record;
      } catch (err) {
        // Answered with a refusal: it claimed nothing, forget it. Not answered: keep it, to
        // send again as it is.
        if (err.error !== "offline") this.done();
        throw err;
      }
    },
    done() {
      store.removeItem(this.key);
    },
  };

  function newRequestId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------ the status bar

  const status = {
    online(ok) {
      $("st-signal").textContent = ok ? t("信号正常") : t("信号中断");
      $("st-signal").dataset.ok = ok ? "1" : "0";
    },
    operator(name) {
      $("st-operator").textContent = name || "";
    },
    // The shop's time (KAKATONG_TZ), whatever zone the browser's machine is set to.
    // The serial card reader (KAKATONG_MSR): "connected", "disconnected", or "none".
    reader(state) {
      const text = { connected: t("刷卡器 已连接"), disconnected: t("刷卡器 未连接") }[state];
      $("st-reader").textContent = text || `${t("刷卡器")} —`;
      $("st-reader").dataset.ok = state === "connected" ? "1" : state === "none" ? "" : "0";
    },
    // The receipt printer (小票打印机): none, unknown, printing, ok or failed (why in the title).
    printer(s) {
      const el = $("st-printer");
      let word = s.printer;
      // A connection test in hand is not a print: the printer is only not known yet.
      if (word === "printing" && s.job && s.job.kind === "probe") word = "unknown";
      el.textContent = {
        unknown: `${t("打印机")} …`, printing: t("正在打印"), ok: t("打印机 正常"),
        failed: t("打印机 故障"),
      }[word] || `${t("打印机")} —`;
      el.dataset.ok = word === "ok" ? "1" : word === "failed" ? "0" : "";
      el.title = word === "failed" ? s.error || "" : "";
    },
    clock() {
      const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
        timeZone: config.tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      }).formatToParts(new Date()).map((p) => [p.type, p.value]));
      const text = `${parts.year}/${parts.month}/${parts.day} ${parts.hour}:${parts.minute}`;
      $("st-clock").textContent = text;
      return text;
    },
  };

  // ------------------------------------------------------------------ the display

  // A screen is drawn as the POS draws it: a title with its English code, a few lines, the
  // field being typed, a hint. `keys` maps key names to handlers.
  let screen = null;
  let busy = false;

  function show(next) {
    // The first screen drawn is when the page became usable (`make bench` reads this mark).
    if (!screen) performance.mark("kkt-ready");
    screen = next;
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
    $("hint").textContent = next.hint || "";
    $("hint").dataset.tone = next.hintTone || "";
    $("slip").hidden = !next.slip;
    $("slip-printer").hidden = !(next.slip && printer.configured());
    root.dataset.screen = next.name;
    root.dataset.tone = next.tone || "";
  }

  function press(key, value) {
    if (busy || !screen) return;
    const handler = screen.keys[key] || (/^[0-9]$/.test(key) && screen.keys.digit) ||
      (api.token && everywhere[key]);
    if (handler) handler(value === undefined ? key : value);
  }

  // Keys the manual gives on every screen, where a screen has nothing else for them.
  // With a receipt printer 重印 prints the terminal's last receipt again (or the settlement
  // slip, when that is what failed to print) and 送纸 feeds paper; without one 重印 shows the
  // last receipt on screen.
  // A print asked for mid-flow comes back to the screen as it was, with what was typed.
  const backHere = () => {
    const here = screen;
    return here && here.name !== "standby" ? () => show(here) : standby;
  };
  const everywhere = {
    reprint: () => {
      const failed = printer.state.printer === "failed" && printer.state.job;
      if (failed && failed.kind === "settlement") return printJob("settlement", backHere());
      if (printer.configured()) return printJob("reprint", backHere());
      return lastRecord ? receipt(lastRecord)
        : message({ name: "no-receipt", title: t("重印"), lines: [t("没有可重印的签购单")] });
    },
    feed: () => (printer.configured() ? printJob("feed", backHere())
      : message({ name: "no-printer", title: t("送纸"), lines: [t("未配置打印机")] })),
  };

  // The last receipt of this terminal's page: 重印 shows it where there is no printer.
  let lastRecord = JSON.parse(store.getItem("kkt.last") || "null");

  function remember(record) {
    lastRecord = record;
    store.setItem("kkt.last", JSON.stringify(record));
  }

  // The sales slip (签购单) on screen: card number masked, as a printed slip would show it.
  function receipt(r) {
    const kind = TYPES[r.type] || { title: "撤销", code: "VOID" };
    const masked = r.card_no.slice(0, 4) + "*".repeat(r.card_no.length - 8) + r.card_no.slice(-4);
    const money = r.amount !== "0.00"
      ? `${t("金额")} ${r.amount.replace("-", "")}  ${t("余额")} ${r.balance}`
      : `${t("积分")} ${Math.abs(r.points)}  ${t("可用积分：")}${r.points_balance}`;
    message({
      name: "receipt", title: `${terminal ? terminal.receipt_title : ""}`, code: t("重印") + " REPRINT",
      lines: [`${terminal ? terminal.merchant_name : ""}  ${t("终端号")} ${r.terminal_id}`,
        `${t("卡号")} ${masked}`, `${t(kind.title)} ${kind.code}`,
        `${t("凭证号")} ${r.voucher_no} ${t("批次号")} ${r.batch_no}`,
        `REF.NO ${r.reference_no} ${t("流水号")} ${r.trace_no}`,
        `${r.created_at.slice(0, 16).replace("T", " ")}  ${t("操作员")} ${r.operator_no}`, money],
      onEnter: standby,
    });
  }

  // ------------------------------------------------------------------ the receipt printer

  // The terminal's printer as the server reports it (GET /terminal, the stream's printer
  // events, the poll's answers): its state, and the print jobs seen, by id. The server prints
  // each transaction's receipt and each settlement's slip by itself; the page shows how that
  // went, and asks for the prints of its keys (重印, 送纸, 管理 → 打印, the test page).
  const RANK = { queued: 0, printing: 1, printed: 2, failed: 2, skipped: 2 };
  const printer = {
    state: { printer: "none", error: null, job: null },
    jobs: new Map(),
    configured() {
      return this.state.printer !== "none";
    },
    update(s) {
      if (!s || JSON.stringify(s) === JSON.stringify(this.state)) return;
      this.state = s;
      if (s.job) this.seen(s.job);
      status.printer(s);
      // A screen waiting for a print (or showing the printer's trouble) draws itself again.
      if (screen && screen.onPrinter) screen.onPrinter();
    },
    // A job's news, never older news over newer (the 202 may come after its printed event).
    seen(job) {
      const known = this.jobs.get(job.id);
      if (known && (known.attempts > job.attempts ||
        (known.attempts === job.attempts && RANK[known.state] > RANK[job.state]))) return;
      this.jobs.delete(job.id);
      this.jobs.set(job.id, job);
      if (this.jobs.size > 50) this.jobs.delete(this.jobs.keys().next().value);
    },
    find(test) {
      return [...this.jobs.values()].reverse().find(test) || null;
    },
    lastId() {
      return Math.max(0, ...this.jobs.keys());
    },
  };

  // A failed print as a screen shows it: 打印失败, then the device's words, smaller.
  const failedLines = (job) => [{ text: t("打印失败"), tone: "error" },
    { text: job.error || "", tone: "error", small: true }];

  // What a screen says of a print: printing, printed (hints), or failed and why (lines).
  function printed(job, { waiting, done }) {
    if (job && job.state === "printed") return { hint: done };
    if (job && job.state === "failed") return { failed: failedLines(job), error: job.error || "" };
    return { hint: waiting };
  }

  const PRINTS = {
    reprint: { title: "重印", code: "REPRINT" },
    feed: { title: "送纸", code: "FEED" },
    journal: { title: "打印流水", code: "JOURNAL" },
    totals: { title: "打印汇总", code: "TOTALS" },
    test: { title: "测试打印", code: "TEST" },
    settlement: { title: "结算单", code: "SETTLE" },
  };

  // A print asked for at the terminal: sent, then followed until it is out (or failed).
  async function printJob(kind, back = standby, voucherNo = null) {
    const what = PRINTS[kind];
    let job;
    try {
      const request = voucherNo ? { kind, voucher_no: voucherNo } : { kind };
      job = await processing(() => api.call("POST", "/terminal/printer/jobs", request));
    } catch (err) {
      if (err.error === "printer_not_configured") {
        printer.update({ printer: "none", error: null, job: null });
      }
      return refusal(err, back, back);
    }
    printer.seen(job);
    const draw = () => {
      const now = printer.jobs.get(job.id) || job;
      const lines = [kind === "reprint" ? t("已发送重印") : t(now.name)];
      let hint = t("按输入键继续…");
      let tone = "";
      if (now.state === "printed") {
        lines.push(t("打印完成"));
        tone = "ok";
      } else if (now.state === "failed") {
        lines.push(...failedLines(now));
        tone = "error";
        if (kind === "reprint" || kind === "settlement") hint = t("按[重印]键重新打印");
      } else if (now.state === "skipped") {
        lines.push(t("未配置打印机"));
      } else {
        lines.push(t("打印中…"));
      }
      show({
        name: "print-job", title: t(what.title), code: what.code, lines, hint, tone,
        keys: { enter: back, cancel: back }, onPrinter: draw,
      });
    };
    draw();
  }

  // The printer's trouble, for the standby screen: what failed and how to try again. It does
  // not interrupt a cashier: other screens show it in the status bar only.
  function printerTrouble() {
    const s = printer.state;
    if (s.printer !== "failed") return { lines: [], hint: "" };
    const job = s.job;
    const what = !job || job.kind === "probe" ? t("打印机 故障") : `${t("打印失败")}：${t(job.name)}`;
    const again = job && ["receipt", "reprint", "settlement"].includes(job.kind);
    return {
      lines: [{ text: what, tone: "error" }, { text: s.error || "", tone: "error", small: true }],
      hint: again ? t("按[重印]键重新打印") : "",
    };
  }

  // ------------------------------------------------------------------ the receipt as a page

  // One transaction of the journal as its printed slip, inside the page, for the browser to
  // print (window.print(); the print stylesheet prints the slip alone). The card number shows
  // its first 6 and last 4 digits, as on the printed slip.
  const SLIP_TYPES = {
    consume: ["储值消费", "SALE"], recharge: ["储值充值", "RECHARGE"],
    points_earn: ["积分累加", "POINTS EARN"], points_redeem: ["积分消费", "POINTS REDEEM"],
    void: ["交易撤销", "VOID"],
  };

  function maskCard(cardNo) {
    const shown = Math.max(0, Math.min(6, cardNo.length - 8));
    const hidden = cardNo.length - shown - 4;
    if (hidden <= 0) return "*".repeat(cardNo.length);
    return cardNo.slice(0, shown) + "*".repeat(hidden) + cardNo.slice(-4);
  }

  function slipView(r, back) {
    const [typeName, typeCode] = SLIP_TYPES[r.type] || [r.type, ""];
    const paper = $("slip-paper");
    const el = (tag, text, className) => {
      const node = document.createElement(tag);
      if (text !== undefined) node.textContent = text;
      if (className) node.className = className;
      return node;
    };
    const rows = [
      [t("商户名称"), terminal.merchant_name],
      [`${t("商户编号")} MER`, terminal.merchant_id],
      [`${t("终端编号")} TID`, r.terminal_id || "—"],
      [`${t("操作员")} OPER`, [r.operator_no, r.operator_name].filter(Boolean).join(" ") || "—"],
      [`${t("卡号")} CARD NO`, maskCard(r.card_no), "card-no"],
      [`${t("交易类型")} TRANS`, `${t(typeName)} ${typeCode}`],
      ...(r.original_voucher_no ? [[`${t("原凭证号")} ORIG`, r.original_voucher_no]] : []),
      [`${t("批次号")} BATCH NO`, r.batch_no],
      [`${t("凭证号")} VOUCHER NO`, r.voucher_no],
      [`${t("参考号")} REF.NO`, r.reference_no],
      [`${t("流水号")} TRACE NO`, r.trace_no],
      [`${t("日期/时间")} DATE/TIME`, r.created_at.slice(0, 19).replace("T", " ")],
      ...(r.amount !== "0.00" ? [[`${t("金额")} AMOUNT`, `RMB ${r.amount.replace("-", "")}`, "amount"]] : []),
      [`${t("余额")} BALANCE`, r.balance],
      ...(r.points ? [[`${t("积分")} POINTS`, `${r.points > 0 ? "+" : ""}${r.points}`]] : []),
      [t("积分余额"), String(r.points_balance)],
    ];
    const list = el("dl");
    for (const [label, value, className] of rows) {
      list.append(el("dt", label), el("dd", value || "—", className));
    }
    paper.replaceChildren(
      el("h2", terminal.receipt_title || t("签购单")),
      el("p", `${t("重印")} REPRINT`, "copy"),
      ...(r.status === "voided" ? [el("p", t("此交易已撤销"), "voided")] : []),
      list,
      ...(r.type === "consume" ? [el("p", `${t("持卡人签名")} CARDHOLDER SIGNATURE`, "sign"),
        el("p", t("本人确认以上交易，同意将其记入本卡账户"), "small")] : []),
    );
    show({
      name: "slip", title: t("签购单"), code: r.voucher_no, slip: true,
      // 重印 (or the slip's own button) prints it on the terminal's printer; without one,
      // the browser prints it.
      lines: [`${t("凭证号")} ${r.voucher_no}`],
      hint: printer.configured() ? t("按[重印]键在打印机上打印") : t("按输入键继续…"),
      keys: {
        enter: back, cancel: back,
        reprint: () => (printer.configured() ? printJob("reprint", back, r.voucher_no)
          : window.print()),
      },
    });
  }

  // ------------------------------------------------------------------ typed fields

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
  function ask({ name, title, code, lines, hint, max, mask, money, onEnter, onCancel, onSwipe,
    funcTypes }) {
    const field = typed({ max, mask, money });
    const draw = () => show({
      name, title, code, lines, hint, field: field.shown(),
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

  function message({ name = "message", title, code, lines, tone, onEnter, onCancel }) {
    show({
      name, title, code, lines, tone,
      hint: t("按输入键继续…"),
      keys: { enter: onEnter || standby, cancel: onCancel || onEnter || standby },
    });
  }

  // An API refusal as its one clear sentence; 输入 tries again where that makes sense, 取消
  // goes back to a safe screen.
  function refusal(err, again = standby, leave = standby) {
    message({
      name: "refusal", title: t("交易失败"), tone: "error",
      lines: [err.message || t("系统错误，请联系管理员")],
      onEnter: again, onCancel: leave,
    });
  }

  async function processing(work) {
    busy = true;
    show({ name: "processing", lines: [t("已连接卡卡通中心"), t("处理中…"), t("请稍候")], keys: {} });
    try {
      return await work();
    } finally {
      busy = false;
    }
  }

  // ------------------------------------------------------------------ sign-in (签到 LOGON)

  function logon() {
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
  const binding = {
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
            refusal(err, () => bindTerminal(reason), () => bindTerminal(reason));
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
      me = session;
      status.operator(`${session.operator_no} ${session.name}`);
      await loadTerminal();
      swipes.start();
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
      refusal(err, askOperator);
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
            return refusal({ message: t("两次输入的密码不一致") }, () => newPassword(no, old));
          }
          try {
            await processing(() => api.call("POST", `/staff/${no}/password`,
              { old_password: old, new_password: first }));
            signIn(no, first);
          } catch (err) {
            refusal(err, () => newPassword(no, old));
          }
        },
      }),
    });
  }

  // ------------------------------------------------------------------ standby and menu

  let me = null;
  let terminal = null;
  let shop = { enabled_types: [] };

  async function loadTerminal() {
    terminal = await api.call("GET", "/terminal");
    printer.update(terminal.printer);
    shop.enabled_types = terminal.enabled_types;
    $("st-terminal").textContent = terminal.terminal_id;
    // The terminal's language (a terminal parameter): the page reloads in it if need be.
    if (terminal.language !== config.language) {
      const url = new URL(window.location.href);
      url.searchParams.set("lang", terminal.language);
      window.location.replace(url);
      await new Promise(() => {});  // the page is leaving
    }
  }

  // Home: standby for operators; the supervisor's and the system operator's own menus.
  function standby() {
    if (!api.token) return logon();
    if (me && me.role === "supervisor") return supervisorMenu();
    if (me && me.role === "sysadmin") return systemMenu();
    const trouble = printerTrouble();
    show({
      name: "standby", lines: [t("卡  卡  通"), t("请刷卡"), status.clock(), ...trouble.lines],
      hint: trouble.hint, onPrinter: standby,
      keys: {
        enter: () => menu(0),
        trade: () => startTransaction("consume"),
        settle: settlement,
        digit: () => {},
        cancel: () => {},
        // A swipe on standby starts the terminal's default transaction (待机默认交易).
        swipe: (card) => startTransaction(terminal.standby_type, card),
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
    return MENU.filter((item) => !item.type || shop.enabled_types.includes(item.type));
  }

  function menu(page) {
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

  // ------------------------------------------------------------------ transactions

  const TYPES = {
    consume: { title: "储值消费", code: "SALE", unit: "amount" },
    recharge: { title: "储值充值", code: "RECHARGE", unit: "amount" },
    points_earn: { title: "积分累加", code: "POINTS", unit: "points" },
    points_redeem: { title: "积分消费", code: "REDEEM", unit: "points" },
  };

  function startTransaction(type, swiped) {
    if (!shop.enabled_types.includes(type)) {
      return refusal({ message: t("该交易未开通") });
    }
    const kind = TYPES[type];
    const flow = { type, title: t(kind.title), code: kind.code };
    askCard(flow, () => askAmount(flow), swiped);
  }

  // The card: swiped, or typed where the terminal allows it; then confirmed (CARD, EXP DATE).
  function askCard(flow, next, swiped) {
    const confirm = () => message({
      name: "confirm", title: flow.title, code: flow.code,
      lines: [`CARD: ${flow.card_no}`, `EXP DATA: ${flow.expiry}`],
      onEnter: next, onCancel: standby,
    });
    const onSwipe = (card) => {
      flow.card_no = card.card_no;
      flow.expiry = card.expiry;
      confirm();
    };
    if (swiped) return onSwipe(swiped);
    if (!terminal.manual_entry) {
      return show({
        name: "card", title: flow.title, code: flow.code, lines: [t("请刷卡")],
        keys: { cancel: standby, swipe: onSwipe },
      });
    }
    ask({
      name: "card", title: flow.title, code: flow.code, lines: [t("请刷卡或输入卡号")], max: 19,
      onSwipe,
      onEnter: (cardNo) => {
        if (!/^[0-9]{8,19}$/.test(cardNo)) {
          return refusal({ message: t("卡号必须是 8 到 19 位数字") }, () => askCard(flow, next));
        }
        flow.card_no = cardNo;
        flow.expiry = "00/00";
        confirm();
      },
    });
  }

  function askAmount(flow) {
    const points = TYPES[flow.type].unit === "points";
    ask({
      name: "amount", title: flow.title, code: flow.code,
      lines: [points ? t("请输入积分：") : t("请输入金额：")], hint: t("输错请按[更正]键"),
      max: points ? 7 : 9, money: !points,
      onEnter: (value) => {
        if (!value || /^0*$/.test(value)) return;
        if (points) flow.points = Number(value);
        else flow.amount = `${Number(value.slice(0, -2) || "0")}.${value.padStart(2, "0").slice(-2)}`;
        if (flow.type === "recharge") return askPayment(flow);
        askServiceCode(flow);
      },
    });
  }

  const PAYMENTS = [["1", "cash", "现金"], ["2", "bank_card", "银行卡"], ["3", "wechat", "微信支付"],
    ["4", "alipay", "支付宝"], ["5", "other", "其他"]];

  function askPayment(flow) {
    show({
      name: "payment", title: flow.title, code: flow.code,
      lines: [t("请选择支付方式："), ...PAYMENTS.map(([k, , label]) => `${k}.${t(label)}`)],
      keys: {
        digit: (d) => {
          const choice = PAYMENTS.find(([k]) => k === d);
          if (choice) { flow.payment_method = choice[1]; askPin(flow); }
        },
        cancel: standby,
      },
    });
  }

  function askServiceCode(flow) {
    if (!terminal.service_code_prompt) return askPin(flow);
    ask({
      name: "service-code", title: flow.title, code: flow.code,
      lines: [t("请输入服务代码：")], hint: t("无服务代码按[输入]键"), max: 20,
      onEnter: (code) => { flow.service_code = code || null; askPin(flow); },
    });
  }

  function askPin(flow) {
    const shown = flow.amount ? `${t("金额")} ${flow.amount}` : `${t("积分")} ${flow.points}`;
    ask({
      name: "pin", title: shown, lines: [t("请输入密码")], hint: t("无密码按[输入]键"),
      max: 6, mask: true,
      onEnter: (pin) => {
        if (pin && pin.length !== 6) return;
        const body = { type: flow.type, card_no: flow.card_no, pin: pin || null };
        for (const field of ["amount", "points", "service_code", "payment_method"]) {
          if (flow[field] !== undefined && flow[field] !== null) body[field] = flow[field];
        }
        submit(outbox.create("/transactions", body), flow);
      },
    });
  }

  async function submit(request, flow) {
    try {
      const record = await processing(() => outbox.send(request));
      success(record, flow);
    } catch (err) {
      if (err.error === "offline") {
        return message({
          name: "offline", title: flow.title, tone: "error",
          lines: [err.message, t("按输入键重试")],
          onEnter: () => submit(request, flow), onCancel: standby,
        });
      }
      refusal(err);
    }
  }

  // 交易成功; with a printer the server prints the receipt by itself, and the hint follows it
  // (printing, printed, or failed with 重印 to try again).
  function success(record, flow) {
    remember(record);
    const draw = () => {
      const lines = [t("交易成功"), `${t("凭证号")} ${record.voucher_no}`,
        record.amount !== "0.00" ? `${t("余额")} ${record.balance}` : `${t("积分")} ${record.points_balance}`];
      let hint = t("未配置打印机：按[重印]键在屏幕上看签购单");
      if (printer.configured()) {
        const job = printer.find((j) => j.kind === "receipt" && j.voucher_no === record.voucher_no);
        const outcome = printed(job, { waiting: t("正在打印签购单…"), done: t("签购单已打印") });
        if (outcome.failed) lines.push(...outcome.failed);
        hint = outcome.failed ? t("按[重印]键重新打印") : outcome.hint;
      }
      show({
        name: "success", title: flow.title, code: flow.code, tone: "ok", lines, hint,
        keys: { enter: standby, cancel: standby }, onPrinter: draw,
      });
    };
    draw();
  }

  // ------------------------------------------------------------------ queries (BALANCE)

  function query(what) {
    const flow = what === "balance"
      ? { title: t("余额查询"), code: "BALANCE" }
      : { title: t("积分查询"), code: "POINTS" };
    askCard(flow, () => ask({
      name: "pin", title: flow.title, code: flow.code, lines: [t("请输入密码")],
      hint: t("无密码按[输入]键"), max: 6, mask: true,
      onEnter: async (pin) => {
        if (pin && pin.length !== 6) return;
        try {
          const card = await processing(() => api.call("POST", `/cards/${flow.card_no}/query`,
            { pin: pin || null }));
          message({
            name: "query-result", title: t("查询成功"), tone: "ok",
            lines: what === "balance"
              ? [t("可用余额："), card.balance]
              : [t("可用积分："), `${card.points}${t("分")}`],
          });
        } catch (err) {
          refusal(err);
        }
      },
    }));
  }

  // ------------------------------------------------------------------ void (VOID)

  function voidFlow() {
    const flow = { title: t("撤销"), code: "VOID" };
    ask({
      name: "supervisor", title: flow.title, code: flow.code, lines: [t("请输入主管密码")],
      max: 8, mask: true,
      onEnter: (password) => {
        if (!password) return;
        flow.supervisor_password = password;
        ask({
          name: "voucher", title: flow.title, code: flow.code, lines: [t("请输入原凭证号：")],
          max: 9,
          onEnter: async (voucher) => {
            if (!voucher) return;
            try {
              const original = await processing(() => api.call("GET", `/transactions/${voucher}`));
              showOriginal(flow, original);
            } catch (err) {
              refusal(err);
            }
          },
        });
      },
    });
  }

  function showOriginal(flow, original) {
    const kind = TYPES[original.type];
    const amount = original.amount !== "0.00" ? original.amount.replace("-", "") : `${Math.abs(original.points)}`;
    message({
      name: "original", title: `${kind ? t(kind.title) : ""}${t("撤销")}`,
      lines: [t("原交易："), `Cn: ${original.card_no}`, `VOUCHER NO: ${original.voucher_no}`,
        `AMOUNT: ${amount}`, `REF.NO: ${original.reference_no}`],
      onEnter: () => ask({
        name: "pin", title: `${t("金额")} ${amount}`, lines: [t("请输入密码")],
        hint: t("无密码按[输入]键"), max: 6, mask: true,
        onEnter: (pin) => {
          if (pin && pin.length !== 6) return;
          const request = outbox.create(`/transactions/${original.voucher_no}/void`,
            { supervisor_password: flow.supervisor_password, pin: pin || null });
          submit(request, { title: flow.title, code: flow.code });
        },
      }),
    });
  }

  // ------------------------------------------------------------------ settlement (结算)

  function settlement() {
    message({
      name: "settle-confirm", title: t("结算"), code: "SETTLE",
      lines: [`${t("批次号")} ${terminal.batch_no}`, t("按输入键结算本批次")],
      onEnter: async () => {
        // The settlement slip the server prints is the first one queued after this.
        const before = printer.lastId();
        try {
          const totals = await processing(() => api.call("POST", "/settlements", {}));
          terminal = await api.call("GET", "/terminal");
          const line = (type, label) => {
            const x = totals.types[type];
            return `${t(label)} ${x.count}${t("笔")} ${type.startsWith("points") ? x.points : x.amount}`;
          };
          const lines = [`${t("批次号")} ${totals.batch_no}`, line("consume", "储值消费"),
            line("recharge", "储值充值"), line("points_earn", "积分累加"),
            line("points_redeem", "积分消费"), `${t("撤销")} ${totals.void_count}${t("笔")}`];
          const draw = () => {
            let hint = t("按输入键继续…");
            let hintTone = "";
            if (printer.configured()) {
              const job = printer.find((j) => j.kind === "settlement" && j.id > before);
              const outcome = printed(job, { waiting: t("正在打印结算单…"), done: t("结算单已打印") });
              hint = outcome.failed
                ? `${t("打印失败")}：${outcome.error} ${t("按[重印]键重新打印")}` : outcome.hint;
              hintTone = outcome.failed ? "error" : "";
            }
            show({
              name: "settled", title: t("结算成功"), code: "SETTLE", tone: "ok", lines, hint,
              hintTone, onPrinter: draw,
              keys: {
                enter: standby, cancel: standby,
                // With a printer 重印 prints this slip again; without one, the last receipt.
                ...(printer.configured() ? { reprint: () => printJob("settlement") } : {}),
              },
            });
          };
          printer.update(terminal.printer);
          draw();
        } catch (err) {
          refusal(err);
        }
      },
    });
  }

  // ------------------------------------------------------------------ management (管理)

  function management() {
    const item = (k, label) => `${k}.${t(label)}`.padEnd(8, "\u3000");
    choose({
      name: "management", title: t("管理"),
      lines: [`${item(1, "卡号绑定")} ${item(2, "签到")}`, `${item(3, "卡片管理")} ${item(4, "锁定")}`,
        `${item(5, "员工管理")} ${item(6, "版本")}`, `${item(7, "交易查询")} ${item(8, "打印")}`],
      options: {
        1: bindCard, 2: logon, 3: cardManagement, 4: lock, 5: staffPasswords, 6: versionScreen,
        7: transactionQuery,
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
          refusal(err, management, management);
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
            { card_no: flow.card_no, pin: pin || null })));
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
            refusal(err, management, management);
          }
        };
        if (!first) return done();
        ask({
          name: "new-pin-again", title: flow.title, lines: [t("请再次输入新密码")], max: 6,
          mask: true, onCancel: management,
          onEnter: (second) => (second === first ? done()
            : refusal({ message: t("两次输入的密码不一致") }, management, management)),
        });
      },
    });
  }

  // 员工管理: an operator's new password, authorised by the supervisor's password.
  function staffPasswords() {
    ask({
      name: "supervisor", title: t("员工管理"), lines: [t("请输入主管密码")], max: 8, mask: true,
      onCancel: management,
      onEnter: (supervisor) => ask({
        name: "operator-no", title: t("员工管理"), lines: [t("请输入操作员号码")], max: 2,
        onCancel: management,
        onEnter: (no) => (no.length !== 2 ? undefined : twice({
          name: "operator-password", title: t("员工管理"), lines: [t("请输入新密码")],
          save: (pw) => api.call("PUT", `/staff/${no}/password`,
            { new_password: pw, supervisor_password: supervisor }),
          back: management,
        })),
      }),
    });
  }

  // 交易查询: this terminal's current batch, three rows a screen, then its totals.
  async function transactionQuery(page = 0) {
    let batch;
    try {
      batch = await api.call("GET", "/batch");
    } catch (err) {
      return refusal(err, management, management);
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

  // One transaction of the batch; 重印 opens its receipt as a page to print.
  function oneTransaction(r, page) {
    const [typeName, typeCode] = SLIP_TYPES[r.type] || [r.type, ""];
    const back = () => transactionQuery(page);
    const figure = r.amount !== "0.00" ? `${t("金额")} ${r.amount}` : `${t("积分")} ${r.points}`;
    show({
      name: "transaction", title: `${t(typeName)}${r.status === "voided" ? " " + t("已撤销") : ""}`,
      code: typeCode,
      lines: [`${t("卡号")} ${maskCard(r.card_no)}`, `${t("凭证号")} ${r.voucher_no}  ${t("流水号")} ${r.trace_no}`,
        figure, r.created_at.slice(0, 16).replace("T", " ")],
      hint: t("按[重印]键打印签购单"),
      keys: {
        enter: back, cancel: back,
        reprint: () => slipView(r, () => oneTransaction(r, page)),
      },
    });
  }

  async function lock() {
    try {
      await api.call("POST", "/session/lock", {});
    } catch (err) {
      return refusal(err);
    }
    locked();
  }

  // Locked (锁定): only the signed-in operator's password opens the terminal again. The lock is
  // kept by the server, so a reload shows this screen again.
  function locked() {
    ask({
      name: "locked", title: t("锁定"), lines: [t("终端已锁定"), t("请输入操作员密码")],
      max: 8, mask: true, onCancel: locked,
      onEnter: async (password) => {
        try {
          await processing(() => api.call("POST", "/session/unlock", { password }));
          swipes.start();
          standby();
        } catch (err) {
          refusal(err, locked, locked);
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
      refusal(err);
    }
  }

  // ------------------------------------------------------------------ choices and passwords

  // A numbered list: a digit picks, 取消 leaves.
  function choose({ name, title, code, lines, hint, options, onCancel, onEnter }) {
    show({
      name, title, code, lines, hint,
      keys: {
        digit: (d) => options[d] && options[d](), cancel: onCancel || standby, enter: onEnter,
      },
    });
  }

  // A new password typed twice; `save(password)` sends it.
  function twice({ name, title, lines, max = 8, save, back }) {
    ask({
      name, title, lines, max, mask: true, onCancel: back,
      onEnter: (first) => {
        if (!first) return;
        ask({
          name: `${name}-again`, title, lines: [t("请再次输入新密码")], max, mask: true,
          onCancel: back,
          onEnter: async (second) => {
            if (first !== second) return refusal({ message: t("两次输入的密码不一致") }, back, back);
            try {
              await processing(() => save(first));
              message({ name: "saved", title, tone: "ok", lines: [t("设置成功")], onEnter: back });
            } catch (err) {
              refusal(err, back, back);
            }
          },
        });
      },
    });
  }

  async function signOut() {
    try {
      await api.call("DELETE", "/session");
    } catch (err) {
      // signed out either way
    }
    me = null;
    logon();
  }

  // ------------------------------------------------------------------ supervisor (主管 00)

  function supervisorMenu() {
    choose({
      name: "supervisor-menu", title: t("主管操作"),
      lines: [`1.${t("添加操作员")}`, `2.${t("删除操作员")}`, `3.${t("操作员改密")}`,
        `4.${t("查询操作员")}`, `5.${t("主管签退")}`],
      options: {
        1: () => operatorNo("add-operator", t("添加操作员"), (no) => twice({
          name: "operator-password", title: t("添加操作员"), lines: [t("请输入新密码")],
          save: (pw) => api.call("POST", "/staff", { operator_no: no, password: pw }),
          back: supervisorMenu,
        })),
        2: () => operatorNo("remove-operator", t("删除操作员"), async (no) => {
          try {
            await processing(() => api.call("DELETE", `/staff/${no}`));
            message({ name: "saved", title: t("删除操作员"), tone: "ok", lines: [t("设置成功")],
              onEnter: supervisorMenu });
          } catch (err) {
            refusal(err, supervisorMenu, supervisorMenu);
          }
        }),
        3: () => operatorNo("operator-no", t("操作员改密"), (no) => twice({
          name: "operator-password", title: t("操作员改密"), lines: [t("请输入新密码")],
          save: (pw) => api.call("PUT", `/staff/${no}/password`, { new_password: pw }),
          back: supervisorMenu,
        })),
        4: listOperators,
        5: signOut,
      },
      onCancel: supervisorMenu,
    });
  }

  function operatorNo(name, title, next) {
    ask({
      name, title, lines: [t("请输入操作员号码")], max: 2, onCancel: supervisorMenu,
      onEnter: (no) => (no.length === 2 ? next(no) : undefined),
    });
  }

  async function listOperators(page = 0) {
    let staff;
    try {
      staff = (await api.call("GET", "/staff")).staff.filter((s) => s.role === "operator" && s.active);
    } catch (err) {
      return refusal(err, supervisorMenu, supervisorMenu);
    }
    const pages = Math.max(1, Math.ceil(staff.length / 4));
    const shown = staff.slice(page * 4, page * 4 + 4).map((s) => `${s.operator_no} ${s.name}`);
    message({
      name: "operators", title: `${t("查询操作员")} ${page + 1}/${pages}`, lines: shown,
      onEnter: () => (page + 1 < pages ? listOperators(page + 1) : supervisorMenu()),
      onCancel: supervisorMenu,
    });
  }

  // ------------------------------------------------------------------ system settings (99)

  // 8.系统设置 from the operator's menu: the system operator's password signs them in here.
  function systemSignIn() {
    ask({
      name: "system-password", title: t("系统设置"), lines: [t("请输入系统操作员密码")], max: 8,
      mask: true, onCancel: () => menu(0),
      onEnter: async (password) => {
        const bound = binding.get();
        try {
          const session = await processing(() => api.call("POST", "/session", {
            operator_no: "99", password, terminal_id: bound.terminal_id,
            terminal_key: bound.terminal_key,
          }));
          api.signedIn(session.token);
          me = session;
          status.operator(`${session.operator_no} ${session.name}`);
          swipes.start();
          systemMenu();
        } catch (err) {
          refusal(err, () => menu(0), () => menu(0));
        }
      },
    });
  }

  function systemMenu() {
    choose({
      name: "system-menu", title: t("系统管理"),
      lines: [`1.${t("终端参数设置")}`, `2.${t("通讯参数设置")}`, `3.${t("交易参数设置")}`,
        `4.${t("终端密钥管理")}`, `5.${t("修改管理员密码")}`, `9.${t("签退")}`],
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
                `/terminals/${terminal.terminal_id}/key`, {}));
              // This browser is the terminal: it keeps the new key itself.
              config.terminal_id = null;
              binding.set(answer.terminal_id, answer.terminal_key);
              message({ name: "new-key", title: t("终端密钥管理"), tone: "ok",
                lines: [t("新密钥（只显示这一次）："), answer.terminal_key], onEnter: systemMenu });
            } catch (err) {
              refusal(err, systemMenu, systemMenu);
            }
          },
          onCancel: systemMenu,
        }),
        5: () => ask({
          name: "old-password", title: t("修改管理员密码"), lines: [t("请输入原密码")], max: 8,
          mask: true, onCancel: systemMenu,
          onEnter: (old) => twice({
            name: "system-password", title: t("修改管理员密码"), lines: [t("请输入新密码")],
            save: (pw) => api.call("POST", `/staff/${me.operator_no}/password`,
              { old_password: old, new_password: pw }),
            back: logon,  // a changed password ends the session: sign in again
          }),
        }),
        9: signOut,
      },
      onCancel: systemMenu,
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
        terminal = await api.call("GET", "/terminal");
        printer.update(terminal.printer);
        again();
      } catch (err) {
        refusal(err, again, again);
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

  async function transactionParameters() {
    let settings;
    try {
      settings = await api.call("GET", "/settings");
    } catch (err) {
      return refusal(err, systemMenu, systemMenu);
    }
    const types = Object.keys(TYPES);
    const on = new Set(settings.enabled_types);
    choose({
      name: "transaction-parameters", title: t("交易参数设置"),
      lines: [...types.map((type, i) => `${i + 1}.${t(TYPES[type].title)} ${onOff(on.has(type))}`),
        `5.${t("清流水")}`],
      options: {
        ...Object.fromEntries(types.map((type, i) => [String(i + 1), async () => {
          if (on.has(type)) on.delete(type); else on.add(type);
          try {
            await processing(() => api.call("PUT", "/settings",
              { enabled_types: types.filter((x) => on.has(x)) }));
            transactionParameters();
          } catch (err) {
            refusal(err, transactionParameters, transactionParameters);
          }
        }])),
        // 清流水: this terminal's transaction query starts afresh; the journal keeps every row.
        5: async () => {
          try {
            await processing(() => api.call("PUT", `/terminals/${terminal.terminal_id}`,
              { clear_journal_view: true }));
            message({ name: "saved", title: t("清流水"), tone: "ok", lines: [t("设置成功")],
              onEnter: transactionParameters });
          } catch (err) {
            refusal(err, transactionParameters, transactionParameters);
          }
        },
      },
      onCancel: systemMenu,
    });
  }

  // ------------------------------------------------------------------ keys

  const KEYBOARD = {
    Enter: "enter", Escape: "cancel", Backspace: "correct",
    F1: "func", F2: "reprint", F3: "feed", F4: "trade", F5: "settle",
  };

  // A keyboard-wedge card reader types the stripe: track 1 "%B…^NAME^YYMM…?" and/or track 2
  // ";PAN=YYMM…?", fast, ending in Enter. Such a burst is a swipe, never digits typed by the
  // cashier: it begins with a sentinel no key of the POS types.
  const wedge = {
    buffer: null,
    last: 0,
    gapMs: 80,
    feed(event) {
      const now = performance.now();
      if (this.buffer === null) {
        if (event.key !== "%" && event.key !== ";") return false;
        this.buffer = "";
      } else if (now - this.last > this.gapMs) {
        this.buffer = null;  // too slow for a reader: a half swipe
        misread();
        return true;
      }
      this.last = now;
      if (event.key === "Enter") {
        const text = this.buffer;
        this.buffer = null;
        const card = parseStripe(text);
        if (card) press("swipe", card);
        else misread();
      } else if (event.key.length === 1) {
        this.buffer += event.key;
      }
      return true;
    },
  };

  function parseStripe(text) {
    const track2 = /;([0-9]{8,19})=([0-9]{2})([0-9]{2})[0-9]*\?/.exec(text);
    const track1 = /%B([0-9]{8,19})\^[^^]*\^([0-9]{2})([0-9]{2})[^?]*\?/.exec(text);
    const found = track2 || track1;
    if (!found) return null;
    if (track1 && track2 && track1[1] !== track2[1]) return null;
    return { card_no: found[1], expiry: `${found[3]}/${found[2]}` };
  }

  function misread() {
    const back = screen;
    message({
      name: "misread", title: t("刷卡"), tone: "error", lines: [t("请重新刷卡")],
      onEnter: () => show(back), onCancel: () => show(back),
    });
  }

  // ------------------------------------------------------------------ the serial card reader

  // A reader on the server's serial port (KAKATONG_MSR) sends its swipes to this page, pushed
  // as Server-Sent Events. They are read with fetch(): an EventSource cannot send the bearer
  // token, and the token never goes into a URL. The server ends each stream after a while and
  // the page reconnects; when it has no stream to spare (503) or streams keep failing, the
  // page polls instead, and tries a stream again now and then. A swipe enters the current
  // flow exactly as a keyboard-wedge swipe does.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const swipes = {
    token: null,  // the session the feed runs for; null: stopped
    controller: null,
    lastId: null,
    start() {
      if (!api.token || this.token === api.token) return;
      this.stop();
      this.token = api.token;
      this.run(this.token);
    },
    stop() {
      this.token = null;
      if (this.controller) this.controller.abort();
      this.controller = null;
    },
    async run(token) {
      let failures = 0;
      let polls = 0;
      let polling = false;
      while (this.token === token) {
        const began = Date.now();
        const outcome = polling ? await this.poll(token) : await this.stream(token);
        if (this.token !== token) return;
        if (outcome === "stop") {  // signed out or locked: started again on sign-in, unlock
          this.token = null;
          return;
        }
        if (outcome === "busy") {
          polling = true;
        } else if (outcome === "failed" || (!polling && Date.now() - began < 1000)) {
          failures += 1;
          if (failures >= 3) polling = true;
          await sleep(Math.min(30000, 500 * 2 ** failures));
        } else if (!polling) {
          failures = 0;  // ended as streams do: reconnect at once
        }
        if (polling && ++polls >= 30) {
          polling = false;
          polls = 0;
          failures = 0;
        }
      }
    },
    headers(token) {
      const headers = { Authorization: "Bearer " + token };
      return headers;
    },
    async stream(token) {
      const headers = this.headers(token);
      if (this.lastId !== null) headers["Last-Event-ID"] = String(this.lastId);
      this.controller = new AbortController();
      let response;
      try {
        response = await fetch("/api/v1/terminal/swipes/stream",
          { headers, cache: "no-store", signal: this.controller.signal });
      } catch (err) {
        return "failed";
      }
      if (response.status === 503) return "busy";
      if (response.status === 401 || response.status === 423) return "stop";
      if (!response.ok || !response.body) return "failed";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return "ended";
          text = (text + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
          let cut;
          while ((cut = text.indexOf("\n\n")) !== -1) {
            const block = text.slice(0, cut);
            text = text.slice(cut + 2);
            if (this.token === token) this.dispatch(block);
          }
        }
      } catch (err) {
        return "failed";
      }
    },
    // One event of the stream: "field: value" lines; a line starting with ":" is a comment.
    dispatch(block) {
      let kind = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "event") kind = value;
        else if (name === "data") data += (data ? "\n" : "") + value;
        else if (name === "id" && /^[0-9]+$/.test(value)) this.lastId = Number(value);
      }
      if (data) this.handle(kind, JSON.parse(data));
    },
    handle(kind, data) {
      if (kind === "status") return status.reader(data.reader);
      if (kind === "printer") return printer.update(data);
      if (kind === "retry") return misread();
      if (kind === "swipe") {
        // As parseStripe gives it: the expiry MM/YY from the stripe's YYMM.
        const e = data.expires || "";
        press("swipe", { card_no: data.card_no, expiry: e ? `${e.slice(2, 4)}/${e.slice(0, 2)}` : "" });
      }
    },
    async poll(token) {
      const began = Date.now();
      const after = this.lastId === null ? "" : `?after=${this.lastId}`;
      let response;
      try {
        this.controller = new AbortController();
        response = await fetch("/api/v1/terminal/swipes" + after,
          { headers: this.headers(token), cache: "no-store", signal: this.controller.signal });
        if (response.status === 401 || response.status === 423) return "stop";
        if (!response.ok) return "failed";
        const data = await response.json();
        if (this.token !== token) return "stop";
        status.reader(data.reader);
        printer.update(data.printer);
        for (const swipe of data.swipes) this.handle(swipe.event, swipe);
        this.lastId = data.last_id;
      } catch (err) {
        return "failed";
      }
      await sleep(Math.max(0, 1000 - (Date.now() - began)));
      return "ended";
    },
  };

  document.addEventListener("keydown", (event) => {
    if (wedge.feed(event)) {
      event.preventDefault();
      return;
    }
    const key = /^[0-9]$/.test(event.key) ? event.key : KEYBOARD[event.key];
    if (!key) return;
    event.preventDefault();
    press(key);
  });

  for (const button of document.querySelectorAll("[data-key]")) {
    button.addEventListener("click", () => press(button.dataset.key));
  }
  // The receipt page's own buttons: 打印 (the browser's print dialog) and 返回.
  $("slip-print").addEventListener("click", () => window.print());
  $("slip-close").addEventListener("click", () => press("cancel"));
  $("slip-printer").addEventListener("click", () => press("reprint"));

  // ------------------------------------------------------------------ start

  setInterval(status.clock, 1000 * 15);
  status.clock();
  setInterval(() => api.call("GET", "/health").catch(() => {}), 5000);

  async function start() {
    if (!api.token) return logon();
    try {
      const session = await api.call("GET", "/session");
      me = session;
      status.operator(`${session.operator_no} ${session.name}`);
      if (session.locked) return locked();
      await loadTerminal();
    } catch (err) {
      return logon();
    }
    swipes.start();
    resume();
  }

  // A transaction confirmed but never answered (the network failed, the page was reloaded)
  // is sent again as it was, before anything else: it is applied once, whatever happened.
  function resume() {
    const pending = outbox.pending();
    if (!pending) return standby();
    const kind = TYPES[pending.body.type] || { title: "撤销", code: "VOID" };
    submit(pending, { title: t(kind.title), code: kind.code });
  }

  start();
})();
