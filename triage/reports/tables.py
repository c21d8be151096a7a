"""What a report page shows: tables (also served as CSV) and the charts drawn from them."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.http import HttpResponse

from triage.formats import when_text


@dataclass(frozen=True)
class Link:
    """A table cell that links somewhere (the CSV gets its text)."""

    text: Any
    href: str

    def __str__(self) -> str:
        return str(self.text)


@dataclass(frozen=True)
class Rate:
    """A share between 0 and 1: the CSV keeps the fraction, the page shows a percentage."""

    value: float | None

    def __str__(self) -> str:
        return cell_text(self.value)


@dataclass(frozen=True)
class CategoryCell:
    """A category: the CSV keeps its slug (stable, what the API uses), the page its name."""

    slug: str
    name: str

    def __str__(self) -> str:
        return self.slug


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Chart:
    """A Chart.js configuration (JSON only: the page script adds colours and callbacks)."""

    id: str
    title: str
    table: str
    config: dict[str, Any]

    @property
    def data_id(self) -> str:
        return f"{self.id}-config"


@dataclass
class Report:
    slug: str
    title: str
    question: str
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def sections(self) -> list[tuple[Table, list[Chart]]]:
        """Each table with the charts drawn from it, in table order."""
        return [(t, [c for c in self.charts if c.table == t.name]) for t in self.tables]


def cell_text(value: Any) -> str:
    """A cell as the CSV writes it: plain numbers (fractions, not percentages) and slugs."""
    if isinstance(value, Rate):
        return cell_text(value.value)
    if isinstance(value, Link):
        return cell_text(value.text)
    if isinstance(value, CategoryCell):
        return value.slug
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else ""
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return str(value)


def display_text(value: Any) -> str:
    """A cell as the page shows it: a share as a percentage, a category by its name."""
    if isinstance(value, Link):
        return display_text(value.text)
    if isinstance(value, Rate):
        if value.value is None or value.value != value.value:
            return ""
        return f"{value.value * 100:.1f}\u00a0%"  # no break between the number and its sign
    if isinstance(value, CategoryCell):
        return value.name
    if isinstance(value, date):  # as every page writes a day or a moment
        # Never split across lines in a narrow column.
        return when_text(value, "datetime" if isinstance(value, datetime) else "date").replace(" ", "\u00a0")
    return cell_text(value)


def csv_response(table: Table, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Every field quoted, and no formula where a spreadsheet may read one (OWASP's CSV injection guidance).
    writer = csv.writer(response, quoting=csv.QUOTE_ALL)
    writer.writerow([csv_cell(column) for column in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(cell_text(cell)) for cell in row])
    return response


# Where a spreadsheet may start a cell: the field's start, or after a character it may be
# told to split on (a comma, semicolon, pipe, tab or line break inside the quoted field).
# A quote goes before any =, +, -, @, tab or carriage return found there, after spaces.
_CELL_START = re.compile(r"(?:^|(?<=[,;|\t\r\n]))( *)(?=[=+\-@\t\r])")


def csv_cell(text: str) -> str:
    """The text with every place a spreadsheet may read as a formula neutralised by a
    leading quote; a plain number (a negative one too) is left as it is."""
    if _is_number(text):
        return text
    return _CELL_START.sub(r"\1'", text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in {"inf", "infinity", "nan"}
