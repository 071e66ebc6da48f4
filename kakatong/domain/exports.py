"""Spreadsheet files from a header and rows: CSV that Excel opens in Chinese, and XLSX.

Knows nothing of the shop: the caller says which columns hold money (`Decimal` yuan, never a
float) and which hold dates. Rows may be any iterable, so an export of many rows streams
through without being held in memory twice.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import chain, islice

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from peewee import Case, Expression, NodeList, Value, fn

BOM = "\ufeff"
MONEY_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
# A text cell starting with one of these is a formula to a spreadsheet program: a member's name
# "=HYPERLINK(…)" must stay text (OWASP's CSV injection advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SHEET_TITLE_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})
_WIDTH_SAMPLE = 200  # rows looked at to size the columns


def unguard(text: str) -> str:
    """A CSV cell as it was before `csv_bytes` kept a formula-like text as text: what an
    import of our own export reads back."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def _csv_text(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 with a byte order mark (without it Excel reads the Chinese as ANSI), CRLF lines.
    None is an empty cell; Decimal, int and date are written as str() gives them."""
    return b"".join(csv_chunks(header, rows))


CSV_CHUNK_ROWS = 1000


def csv_text(value: object) -> object:
    """A cell as csv_bytes writes it: a formula-like text kept as text, a time to the second."""
    return _csv_text(value)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """`csv_bytes` a thousand rows at a time, for a response that streams: the file is never
    held whole, and the server's other requests get their turn between the pieces."""
    out = io.StringIO(newline="")
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([_csv_text(value) for value in row])
        if count % CSV_CHUNK_ROWS == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def csv_head(header: Sequence[str]) -> bytes:
    """The start of a file `csv_bytes` writes: the byte order mark and the header's line."""
    return (BOM + _csv_lines([header])).encode("utf-8")


def csv_line(row: Sequence) -> bytes:
    """One row, its CRLF included, of cells that are already as `csv_text` makes them."""
    return _csv_lines([row]).encode("utf-8")


def csv_cell(value: object) -> str:
    """One cell as `csv_bytes` writes it (kept as text if formula-like, quoted if need be)."""
    return _csv_lines([[_csv_text(value), ""]])[:-3]  # less the empty cell's "," and CRLF


def _csv_lines(rows: Iterable[Sequence]) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


# What the csv module quotes (QUOTE_MINIMAL, CRLF lines), and the formula starts, as GLOB
# patterns ("-" first in a class is itself).
_QUOTED_GLOB = '*[",\n\r]*'
_FORMULA_GLOB = "[-" + "".join(c for c in FORMULA_STARTS if c != "-") + "]*"


def csv_cell_sql(text):
    """A SQL text expression's cell as `csv_bytes` writes it, computed by SQLite: a text
    starting as a formula would gets a "'" first, and one holding a quote, comma or line
    break is quoted, its quotes doubled. NULL stays NULL (the caller says what it is)."""
    guarded = Case(None, [(Expression(text, "GLOB", _FORMULA_GLOB), sql_concat("'", text))], text)
    quoted = sql_concat('"', fn.replace(guarded, '"', '""'), '"')
    return Case(None, [(Expression(text, "GLOB", _QUOTED_GLOB), quoted)], guarded)


def sql_concat(*parts):
    """SQL's `a || b || …` of expressions and texts (a text is a parameter)."""
    return NodeList([Value(p) if isinstance(p, str) else p for p in parts], " || ", parens=True)


def _display_width(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def sheet_title(title: str) -> str:
    """A worksheet title Excel accepts: at most 31 characters, none of []:*?/\\."""
    return (title.translate(_SHEET_TITLE_FORBIDDEN) or "Sheet")[:31]


def xlsx_bytes(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence],
    *,
    money_columns: Iterable[int] = (),
    date_columns: Iterable[int] = (),
    totals: Sequence | None = None,
) -> bytes:
    """A workbook of one sheet: a bold header row (frozen), the rows, then the totals in bold.

    Money columns hold numbers with the 0.00 format; date columns hold real dates (a datetime
    with its time); text stays text, even when it looks like a formula. Column widths fit the
    header, the totals and the first rows.
    """
    money, dates = frozenset(money_columns), frozenset(date_columns)
    rows = iter(rows)
    head = list(islice(rows, _WIDTH_SAMPLE))
    sized = [header, *head, *([totals] if totals is not None else [])]

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title(title))
    sheet.freeze_panes = "A2"
    for index in range(len(header)):
        widest = max(_display_width(row[index]) for row in sized if index < len(row))
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(max(widest, 6) + 2, 60)

    bold = Font(bold=True)
    shaded = PatternFill("solid", fgColor="F2F4F7")

    def number_format(index: int, value: object) -> str | None:
        if index in money:
            return MONEY_FORMAT
        if index in dates and isinstance(value, date):
            return TIME_FORMAT if isinstance(value, datetime) else DATE_FORMAT
        return None

    def cell(index: int, value: object, emphasis: bool = False, formats: bool = True) -> object:
        styled = emphasis or (formats and (index in money or index in dates))
        if not styled and not (isinstance(value, str) and value.startswith("=")):
            return value  # a plain value costs openpyxl a tenth of a cell object
        one = WriteOnlyCell(sheet, value=value)
        if one.data_type == "f":
            one.data_type = "s"  # openpyxl takes "=…" for a formula; ours is text
        fmt = number_format(index, value) if formats else None
        if fmt:
            one.number_format = fmt
        if emphasis:
            one.font, one.fill = bold, shaded
        return one

    sheet.append([cell(i, value, emphasis=True, formats=False) for i, value in enumerate(header)])
    for row in chain(head, rows):
        sheet.append([cell(i, value) for i, value in enumerate(row)])
    if totals is not None:
        sheet.append([cell(i, value, emphasis=True) for i, value in enumerate(totals)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
