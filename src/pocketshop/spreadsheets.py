"""Tables for spreadsheets, as CSV or as an Excel workbook, from one description: columns (a
title, a kind, a width) and rows of typed values (text, a count, an amount in yuan as a
Decimal, a naive local datetime); each writer only renders them.

The CSV leads with a UTF-8 byte order mark, so Excel opens Chinese text correctly. In either
format text a spreadsheet would run as a formula never runs: the CSV prefixes it with an
apostrophe; the workbook stores every text cell as a string (order numbers and phones too,
so Excel neither shows them as 1.2E+17 nor drops a leading zero).
"""

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fastapi import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


class Kind(StrEnum):
    text = "text"
    integer = "integer"
    yuan = "yuan"
    moment = "moment"


Value = str | int | Decimal | datetime


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind
    width: int  # in characters, for the workbook


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[tuple[Value, ...]]


def yuan(fen: int) -> Decimal:
    """1250 fen -> Decimal('12.50'): exact, never through float."""
    return Decimal(fen).scaleb(-2)


# --- CSV -------------------------------------------------------------------------------------


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _csv_cell(kind: Kind, value: Value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if kind is Kind.text:
        return _csv_text(str(value))
    return str(value)


def csv_text(found: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_csv_text(column.title) for column in found.columns])
    kinds = [column.kind for column in found.columns]
    for row in found.rows:
        writer.writerow([_csv_cell(kind, value) for kind, value in zip(kinds, row, strict=True)])
    return "\ufeff" + out.getvalue()


# --- XLSX ------------------------------------------------------------------------------------

NUMBER_FORMATS = {
    Kind.text: "@",
    Kind.integer: "0",
    Kind.yuan: "0.00",
    Kind.moment: "yyyy-mm-dd hh:mm",
}


def _xlsx_cell(sheet: WriteOnlyWorksheet, kind: Kind, value: Value) -> Cell:
    cell = WriteOnlyCell(sheet)
    if kind is Kind.text:
        # Control characters are not allowed in the file; a string stays a string even when
        # it starts with "=" (openpyxl would make it a formula) or reads like "#N/A".
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        cell.data_type = "s"
    else:
        cell.value = value
    cell.number_format = NUMBER_FORMATS[kind]
    return cell


def xlsx_bytes(found: Table, title: str) -> bytes:
    """The workbook: one sheet, its header bold and frozen. Written row by row (openpyxl's
    write-only mode), so a big shop's export does not hold a whole workbook of cell objects."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    for number, column in enumerate(found.columns, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in found.columns:
        cell = _xlsx_cell(sheet, Kind.text, column.title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    kinds = [column.kind for column in found.columns]
    for row in found.rows:
        sheet.append(
            [_xlsx_cell(sheet, kind, value) for kind, value in zip(kinds, row, strict=True)]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- responses -------------------------------------------------------------------------------


def download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def csv_response(found: Table, filename: str) -> Response:
    return download(csv_text(found).encode(), CSV_MEDIA_TYPE, f"{filename}.csv")


async def xlsx_response(found: Table, title: str, filename: str) -> Response:
    # Zipping the workbook takes a while for a big table: not on the event loop.
    body = await asyncio.to_thread(xlsx_bytes, found, title)
    return download(body, XLSX_MEDIA_TYPE, f"{filename}.xlsx")
