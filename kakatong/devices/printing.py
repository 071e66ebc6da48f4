"""Printing at the terminals: each terminal's receipt printer, fed by its own print queue.

What a terminal prints: the receipt (签购单) of each transaction, a reprint of its last one
(重印), a length of blank paper (送纸), the settlement totals (结算), the journal and totals of
its batch (管理 → 打印), and a test page. Each job is queued on the terminal's `PrintQueue`
(printer.py) and printed by its worker thread: a transaction is committed and answered
before its slip is even drawn, and a printer that is off, out of paper or unplugged never
fails or delays one. Each job's outcome is reported through `on_status` (the app passes it on
to the terminal's page) and kept for `status()`.

What the slip says is taken from the database when the job is queued (receipts.build,
reports.batch_totals); how it is drawn (encoding, paper, text or picture) follows the terminal's
printer settings at that moment; where it goes is read again when it prints, so a job that
failed on a wrong address prints at the corrected one when retried.

No Flask here.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from ..domain import ledger, receipts, reports, terminals
from ..domain import settings as shop_settings
from ..domain.errors import LedgerError
from ..domain.ledger import six
from ..domain.money import format_fen
from ..store import runtime
from ..store.codes import JOURNAL_TYPE_NAMES, MONEY_TYPES
from ..store.db import connect, db, sql
from ..store.models import OfflineUpload, Settlement, Staff, Terminal, Transaction
from . import printer

log = logging.getLogger(__name__)

# kind -> what the terminal's screen calls it
KINDS = {
    "probe": "连接测试",
    "receipt": "签购单",
    "reprint": "重印签购单",
    "feed": "送纸",
    "settlement": "结算单",
    "journal": "交易流水",
    "totals": "交易汇总",
    "test": "测试页",
    "offline_upload": "离线上传结果",
}
# What the page may ask for (the others follow a transaction, a settlement, a settings change);
# "settlement" asked for is the terminal's last settlement slip again.
REQUESTED = ("reprint", "feed", "journal", "totals", "test", "settlement")
# What 重印 prints again, as it was, when it failed to print.
RETRIED = ("receipt", "reprint", "settlement")
NO_PRINTER = {"printer": "none", "error": None, "reason": None, "message": None, "job": None}
FEED = printer.ESC_INIT + b"\x1b\x64\x05"  # ESC d 5: five blank lines


def settings_of(terminal: Terminal) -> printer.Settings:
    return printer.Settings(
        url=terminal.printer_url,
        encoding=terminal.printer_encoding,
        chinese_mode=terminal.printer_chinese_mode,
        paper_mm=terminal.paper_mm,
        image=terminal.printer_image,
        cut=terminal.printer_cut,
    )


def _job(job: printer.PrintJob | None) -> dict | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "kind": job.meta.get("kind"),
        "name": KINDS.get(job.meta.get("kind"), job.description),
        "voucher_no": job.meta.get("voucher_no"),
        "state": job.state,
        "error": job.error,
        "reason": job.reason if job.state == "failed" else None,
        "message": job.message,
        "attempts": job.attempts,
    }


class Printing:
    """The print queues of a running app, one per terminal with a printer, made when needed."""

    def __init__(
        self,
        on_status: Callable[[str, dict], None] | None = None,
        *,
        timeout: float = 5.0,
    ) -> None:
        self._on_status = on_status
        self.timeout = timeout
        self._queues: dict[str, printer.PrintQueue] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- queues

    def _queue(self, terminal_id: str) -> printer.PrintQueue:
        with self._lock:
            jobs = self._queues.get(terminal_id)
            if jobs is not None:
                return jobs

            def url() -> str:
                # Read as the job prints: a corrected address applies to a retry.
                connect()
                row = (
                    Terminal.select(Terminal.printer_url)
                    .where(Terminal.terminal_id == terminal_id)
                    .first()
                )
                return row.printer_url if row is not None else "none"

            jobs = printer.PrintQueue(
                url, timeout=self.timeout, on_change=lambda job: self._changed(terminal_id, job)
            )
            self._queues[terminal_id] = jobs
        self._probe(jobs, terminal_id)
        return jobs

    @staticmethod
    def _probe(jobs: printer.PrintQueue, terminal_id: str) -> None:
        """A printer nobody has printed on yet is unknown: say at once whether it answers.
        Not a CUPS queue: sending it nothing would still make an (empty) print job."""
        row = Terminal.select(Terminal.printer_url).where(Terminal.terminal_id == terminal_id)
        url = row.scalar() or "none"
        if terminals.parse_printer_url(url)[0] != "cups":
            jobs.submit(b"", KINDS["probe"], meta={"kind": "probe"})

    def _changed(self, terminal_id: str, job: printer.PrintJob) -> None:
        if self._on_status is None:
            return
        jobs = self._queues.get(terminal_id)
        self._on_status(terminal_id, self._status(jobs, job))

    def stop(self) -> None:
        with self._lock:
            queues, self._queues = list(self._queues.values()), {}
        for jobs in queues:
            jobs.stop()

    # -------------------------------------------------------------- status

    def status(self, terminal: Terminal) -> dict:
        """{"printer": none | unknown | printing | ok | failed, "error", "reason", "message",
        "job": the last job}: a failure's `reason` is a key of printer.FAILURES, `message` what
        the cashier reads, `error` the device's own words.

        Asking about a printer that has no queue yet makes one, and with it a connection test.
        """
        if not settings_of(terminal).configured:
            return dict(NO_PRINTER)
        return self._status(self._queue(terminal.terminal_id))

    @staticmethod
    def _status(jobs: printer.PrintQueue | None, current: printer.PrintJob | None = None) -> dict:
        if jobs is None:
            return dict(NO_PRINTER)
        listed = jobs.jobs()
        last = current or (listed[-1] if listed else None)
        # A connection test under way is not printing: the state stays what was last known.
        busy = any(not job.done and job.meta.get("kind") != "probe" for job in listed)
        state = jobs.status()
        if busy:
            word = "printing"
        elif state.startswith("failed"):
            word = "failed"
        else:
            word = state if state in ("ok", "unknown", "none") else "unknown"
        failed = word == "failed"
        reason = (jobs.last_reason or "fault") if failed else None
        return {
            "printer": word,
            "error": jobs.last_error if failed else None,
            "reason": reason,
            "message": printer.FAILURES[reason] if reason else None,
            "job": _job(last),
        }

    def job(self, terminal_id: str, job_id: int) -> dict | None:
        jobs = self._queues.get(terminal_id)
        return _job(jobs.job(job_id)) if jobs is not None else None

    def wait(self, terminal_id: str, job_id: int, timeout: float = 10.0) -> dict | None:
        jobs = self._queues.get(terminal_id)
        return _job(jobs.wait(job_id, timeout)) if jobs is not None else None

    def settings_changed(self, terminal: Terminal) -> None:
        """After the printer settings changed: an attempt in hand at the old address is given
        up and its job tried at the new one (a printer that hangs holds nothing up), and the
        connection is tested again."""
        jobs = self._queues.get(terminal.terminal_id)
        if jobs is not None:
            jobs.address_changed(terminal.printer_url)
        if not settings_of(terminal).configured:
            return
        if jobs is None:
            self._queue(terminal.terminal_id)  # which tests the connection
        else:
            self._probe(jobs, terminal.terminal_id)

    # -------------------------------------------------------------- jobs

    def _submit(
        self,
        terminal: Terminal,
        kind: str,
        slips: Callable[[printer.Settings], list[list[str]]] | bytes,
        **meta: object,
    ) -> dict | None:
        settings = settings_of(terminal)
        if not settings.configured:
            return None
        if isinstance(slips, bytes):
            data: bytes | Callable[[], bytes] = slips
        else:

            def data() -> bytes:
                return b"".join(settings.slip(lines) for lines in slips(settings))

        jobs = self._queue(terminal.terminal_id)
        job_id = jobs.submit(data, KINDS[kind], meta={"kind": kind, **meta})
        return _job(jobs.job(job_id))

    def receipt(
        self, record: Transaction, *, reprint: bool = False, printer_url: str | None = None
    ) -> dict | None:
        """Queue the receipt of a journal row on its terminal's printer (every copy the
        terminal prints); None when that terminal has no printer. `printer_url`: the
        terminal's, if the caller has just read it (the posting does: ledger.Posted)."""
        if printer_url is None:
            # Most terminals have no printer, and this runs after every transaction: one
            # plain read first (peewee builds a query on the 21 columns slower than SQLite
            # runs it).
            row = db.execute_sql(_PRINTER_URL, (record.terminal_id,)).fetchone()
            if row is None:
                return None
            printer_url = row[0]
        if not printer.Settings(url=printer_url).configured:
            return None
        terminal = Terminal.get_by_id(record.terminal_id)
        # What the slip says is read now, while the request's connection is open.
        slip = receipts.build(Transaction.get_by_id(record.id))

        def slips(settings: printer.Settings) -> list[list[str]]:
            return printer.receipt_slips(slip, settings, reprint=reprint)

        kind = "reprint" if reprint else "receipt"
        return self._submit(terminal, kind, slips, voucher_no=six(record.voucher_no))

    def after_transaction(
        self, record: Transaction, replayed: bool, printer_url: str | None = None
    ) -> dict | None:
        """The receipt of a transaction just answered; never raises (the money has moved)."""
        if replayed:
            return None  # its slip was queued when it was first answered
        try:
            return self.receipt(record, printer_url=printer_url)
        except Exception:
            log.exception("printer: the receipt of %s could not be queued", record.voucher_no)
            return None

    def offline_outcome(self, row: OfflineUpload) -> dict | None:
        """The outcome of one offline upload on its terminal's printer, as the manual's
        批量离线交易上传 prints each (交易成功 with its voucher, or why it failed); None without
        a printer. Never raises: the upload is kept either way."""
        try:
            terminal = Terminal.get_by_id(row.terminal_id)
            if not settings_of(terminal).configured:
                return None
            lines = offline_lines(terminal, row)
            return self._submit(
                terminal, "offline_upload", lambda settings: [lines(settings.columns)],
                offline_trace_no=row.offline_trace_no,
            )  # fmt: skip
        except Exception:
            log.exception("printer: the outcome of offline upload %s could not be queued", row.id)
            return None

    def request(
        self,
        terminal: Terminal,
        kind: object,
        operator_no: str | None,
        voucher_no: object = None,
    ) -> dict:
        """What the terminal's page asks for: reprint (what failed to print since the printer
        last worked, else the last receipt, or the one of `voucher_no` made at this terminal),
        feed, journal, totals, test, or settlement (the last settlement slip again)."""
        if kind not in REQUESTED:
            raise LedgerError("bad_request", "打印内容只能是 " + "、".join(REQUESTED), field="kind")
        if voucher_no is not None and kind != "reprint":
            raise LedgerError("bad_request", "只有重印可以指定凭证号", field="voucher_no")
        if not settings_of(terminal).configured:
            raise LedgerError("printer_not_configured")
        if kind == "reprint" and voucher_no is None:
            # What did not print since the printer last worked prints now, as it was: the
            # customers never got those slips. Else the last receipt, marked as a reprint.
            retried = self._retry_failed(terminal.terminal_id)
            if retried is not None:
                return retried
        if kind == "reprint":
            if voucher_no is None:
                record = last_receipt(terminal)
                if record is None:
                    raise LedgerError("no_receipt")
            else:
                # Another terminal's slip is not ours (transaction_not_found).
                record = ledger.terminal_voucher(terminal.id, voucher_no)
            job = self.receipt(record, reprint=True)
        elif kind == "feed":
            job = self._submit(terminal, "feed", FEED)
        elif kind == "test":
            lines = test_lines(terminal, settings_of(terminal))
            job = self._submit(terminal, "test", lambda _settings: [lines])
        elif kind == "settlement":
            last = (
                Settlement.select()
                .where(Settlement.terminal == terminal.id)
                .order_by(Settlement.id.desc())
                .first()
            )
            if last is None:
                raise LedgerError("no_settlement")
            operator = last.operator.staff_no if last.operator_id else None
            slip = totals_lines(
                terminal, json.loads(last.totals), operator, title=SETTLEMENT, reprint=True
            )
            job = self._submit(terminal, "settlement", lambda s: [slip(s.columns)])
        else:
            totals, rows = reports.batch_view(terminal, every=kind == "journal")
            lines = (
                journal_lines(terminal, totals, rows[::-1], operator_no)  # oldest first
                if kind == "journal"
                else totals_lines(terminal, totals, operator_no, title="交易汇总 TOTALS")
            )
            job = self._submit(terminal, kind, lambda s: [lines(s.columns)])
        assert job is not None
        return job

    def _retry_failed(self, terminal_id: str) -> dict | None:
        """Queue again the receipts and settlement slips that failed since the last job that
        printed; the last of them, or None when there is none."""
        jobs = self._queues.get(terminal_id)
        if jobs is None:
            return None
        failed: list[printer.PrintJob] = []
        for job in jobs.jobs():
            # A connection test that got through (the address corrected) brought no slip out.
            if job.state == "printed" and job.meta.get("kind") != "probe":
                failed = []
            elif job.state == "failed" and job.meta.get("kind") in RETRIED:
                failed.append(job)
        retried = [job.id for job in failed if jobs.retry(job.id)]
        return _job(jobs.job(retried[-1])) if retried else None

    def settlement(self, terminal: Terminal, totals: dict, operator_no: str | None) -> None:
        """The settlement slip (结算单) of a batch just closed; never raises."""
        try:
            lines = totals_lines(terminal, totals, operator_no, title=SETTLEMENT)
            self._submit(terminal, "settlement", lambda s: [lines(s.columns)])
        except Exception:
            log.exception("printer: the settlement of %s could not be queued", terminal.terminal_id)


_PRINTER_URL = sql("SELECT printer_url FROM terminal WHERE id = ?")


def last_receipt(terminal: Terminal) -> Transaction | None:
    """The terminal's last transaction with a receipt (重印 prints it again)."""
    return (
        Transaction.select()
        .where(
            Transaction.terminal == terminal.id,
            Transaction.type.in_(receipts.RECEIPT_TYPES),
            Transaction.voucher_no.is_null(False),
        )
        .order_by(Transaction.id.desc())
        .first()
    )


# ---------------------------------------------------------------------------------------------
# The slips that are not receipts. Each is read from the database now and laid out later, in
# the columns of whatever paper the printer has.


def _header(terminal: Terminal, operator_no: str | None, batch_no: int) -> list[tuple]:
    shop = shop_settings.load()
    operator = None
    if operator_no:
        staff = Staff.get_or_none(Staff.staff_no == operator_no)
        operator = " ".join(p for p in (operator_no, staff.name if staff else "") if p)
    now = runtime.local(runtime.utcnow())
    return [
        ("商户名称 MERCHANT NAME", shop["merchant_name"]),
        ("商户编号 MERCHANT NO.", shop["merchant_id"]),
        ("终端编号 TERMINAL ID", terminal.terminal_id),
        ("操作员 OPERATOR", operator),
        ("批次号 BATCH NO.", six(batch_no)),
        ("日期时间 DATE/TIME", now.strftime("%Y-%m-%d %H:%M:%S")),
    ]


def _voids(terminal: Terminal, batch_no: int) -> tuple[int, int, int]:
    """The voids posted in a batch: how many, the money and the points they moved (unsigned;
    a void of a consume and one of a recharge both count what they reversed)."""
    count = money = points = 0
    rows = Transaction.select(Transaction.amount_fen, Transaction.points).where(
        Transaction.type == "void",
        Transaction.terminal == terminal.id,
        Transaction.batch_no == batch_no,
    )
    for amount_fen, moved in rows.tuples():
        count, money, points = count + 1, money + abs(amount_fen), points + abs(moved)
    return count, money, points


def _yuan(fen: int, signed: bool = False) -> str:
    sign = ("+" if fen >= 0 else "-") if signed else ""
    return sign + "¥" + format_fen(abs(fen))


def _totals_body(terminal: Terminal, totals: dict) -> list[object]:
    """The batch by type, then its total: the count, the voids and what they moved, and the
    net movement of stored value (储值沉淀: recharged less consumed) and of points, as the back
    office's settlement page counts them (voided transactions and their voids count nowhere)."""
    body: list[object] = []
    for kind, t in totals["types"].items():
        name, code = JOURNAL_TYPE_NAMES[kind]
        # Unsigned, as a bank's settlement slip: the type says which way it went.
        points = kind.startswith("points")
        figure = f"{abs(t['points'])}分" if points else _yuan(t["amount_fen"])
        body.append((f"{name} {code}", f"{t['count']}笔 {figure}"))
    body.append("-")
    body.append(("合计 TOTAL", f"{totals['count']}笔"))
    count, money, points = _voids(terminal, totals["batch_no"])
    void = [f"{count}笔"] + ([_yuan(money)] if money else []) + ([f"{points}分"] if points else [])
    body.append(("交易撤销 VOID", " ".join(void)))
    net = sum(t["amount_fen"] for kind, t in totals["types"].items() if kind in MONEY_TYPES)
    body.append(("储值沉淀 NET BALANCE", _yuan(net, signed=True)))
    points_net = sum(t["points"] for t in totals["types"].values())
    body.append(("积分沉淀 NET POINTS", f"{points_net:+d}分"))
    return body


SETTLEMENT = "结算单 SETTLEMENT"


def totals_lines(
    terminal: Terminal,
    totals: dict,
    operator_no: str | None,
    *,
    title: str,
    reprint: bool = False,
) -> Callable[[int], list[str]]:
    """The totals of a batch by type (结算单, or 交易汇总 before settling)."""
    header = _header(terminal, operator_no, totals["batch_no"])
    if "settled_at" in totals:
        header.append(("结算时间 SETTLED", totals["settled_at"].replace("T", " ")[:19]))
    body = _totals_body(terminal, totals)
    subtitle = "重印 REPRINT" if reprint else None
    return lambda width: printer.document_lines(
        title, header, body, width_chars=width, subtitle=subtitle
    )


def journal_lines(
    terminal: Terminal, totals: dict, rows: list[Transaction], operator_no: str | None
) -> Callable[[int], list[str]]:
    """The batch's transactions, two lines each, then the totals (交易流水)."""
    header = _header(terminal, operator_no, totals["batch_no"])
    body: list[object] = []
    for row in rows:
        name = JOURNAL_TYPE_NAMES[row.type].name
        if row.type in MONEY_TYPES or (row.type == "void" and row.amount_fen):
            figure = ("-" if row.amount_fen < 0 else "") + "¥" + format_fen(abs(row.amount_fen))
        else:
            figure = f"{row.points:+d}分"
        body.append((f"{six(row.trace_no)} {name}", figure))
        when = runtime.local(row.created_at).strftime("%m-%d %H:%M")
        mark = " 已撤销" if row.status == "voided" else ""
        body.append(f"  {receipts.mask_card_no(row.card.card_no)} {when}{mark}")
    if not rows:
        body.append("无交易 NO TRANSACTIONS")
    body.append("-")
    body += _totals_body(terminal, totals)
    return lambda width: printer.document_lines("交易流水 JOURNAL", header, body, width_chars=width)


def offline_lines(terminal: Terminal, row: OfflineUpload) -> Callable[[int], list[str]]:
    """One offline upload's outcome (离线上传结果): the sale as the terminal kept it, then
    交易成功 with its voucher and balance, or 失败 and why."""
    header = _header(terminal, row.operator_no, terminal.batch_no)
    name, _code = JOURNAL_TYPE_NAMES[row.type] if row.type else ("", "")
    if row.points is not None:
        figure = ("积分 POINTS", f"{row.points}分")
    else:
        figure = ("金额 AMOUNT", _yuan(row.amount_fen) if row.amount_fen is not None else None)
    sold = runtime.local(row.sold_at).strftime("%Y-%m-%d %H:%M:%S") if row.sold_at else None
    body: list[object] = [
        ("离线流水号 OFFLINE TRACE", f"{row.offline_trace_no:06d}"),
        ("卡号 CARD NO.", receipts.mask_card_no(row.card_no) if row.card_no else None),
        ("交易类型 TRANS TYPE", f"离线{name}" if name else None),
        figure,
        ("交易时间 SALE TIME", sold),
        "-",
    ]
    if row.status == "applied":
        record = Transaction.get_by_id(row.transaction_id)
        body += [
            ("结果 RESULT", "交易成功 SUCCESS"),
            ("凭证号 VOUCHER NO.", six(record.voucher_no)),
            ("余额 BALANCE", _yuan(record.balance_after_fen)),
            ("积分余额 POINTS BALANCE", str(record.points_after)),
        ]
    else:
        body += [("结果 RESULT", "失败 FAILED"), row.message or row.error or ""]
    return lambda width: printer.document_lines(
        "离线上传 OFFLINE UPLOAD", header, body, width_chars=width
    )


def test_lines(terminal: Terminal, settings: printer.Settings) -> list[str]:
    """A test page: what the printer is set to, a ruler of the paper's columns, and every
    kind of character a slip uses, to be read against what came out."""
    width = settings.columns
    header = _header(terminal, None, terminal.batch_no)[:3]
    ruler = "".join(str(n % 10) for n in range(1, width + 1))
    body = [
        ("编码 ENCODING", settings.encoding),
        ("中文模式 CHINESE MODE", "开 ON" if settings.chinese_mode else "关 OFF"),
        ("纸宽 PAPER", f"{settings.paper_mm}mm / {width}"),
        ("图片模式 IMAGE", "开 ON" if settings.image else "关 OFF"),
        "-",
        ruler,
        # Each fits 32 columns: a line that wraps would hide a wrong width.
        "中文：会员卡，储值（测试）。",
        "金额 ¥1,234.56 ABCxyz 0189",
        "文字完整无乱码即设置正确。",
        "OK IF THE TEXT ABOVE IS CLEAR.",
    ]
    return printer.document_lines("打印测试 TEST PAGE", header, body, width_chars=width)
