// The receipt printer as the page knows it: its state and the print jobs seen.
import { state } from "./state.js";
import { status } from "./status.js";

// The terminal's printer as the server reports it (GET /terminal, the stream's printer
// events, the poll's answers): its state, and the print jobs seen, by id. The server prints
// each transaction's receipt and each settlement's slip by itself; the page shows how that
// went, and asks for the prints of its keys (重印, 送纸, 管理 → 打印, the test page).
const RANK = { queued: 0, printing: 1, printed: 2, failed: 2, skipped: 2 };
export const printer = {
  state: { printer: "none", error: null, reason: null, message: null, job: null },
  shown: false,  // the status bar has said it (its "—" is: not known yet)
  jobs: new Map(),
  configured() {
    return this.state.printer !== "none";
  },
  update(s) {
    if (!s || (this.shown && JSON.stringify(s) === JSON.stringify(this.state))) return;
    this.state = s;
    this.shown = true;
    if (s.job) this.seen(s.job);
    status.printer(s);
    // A screen waiting for a print (or showing the printer's trouble) draws itself again.
    if (state.screen && state.screen.onPrinter) state.screen.onPrinter();
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
