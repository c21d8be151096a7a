"""Reading ticket histories from CSV files (import_tickets, evaluate)."""

from __future__ import annotations

import csv
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from triage.models import ticket_subject_limit


class CsvFileError(Exception):
    """The file is missing or lacks a requested column."""


@dataclass(frozen=True)
class CsvRow:
    line: int
    text: str
    subject: str
    label: str
    values: dict[str, str]
    problem: str  # why the row is unusable; "" when it is fine


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> CsvFileError:
    # No line number: the file is decoded in blocks, ahead of the row being read.
    return CsvFileError(f"{path}: not UTF-8 text (a byte {exc.object[exc.start]:#04x}); save the file as UTF-8")


def count_rows(path: Path) -> int:
    """Data rows in the file; reading it all first also checks that it is UTF-8."""
    lines = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for _ in csv.reader(fh):
                lines += 1
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    return max(lines - 1, 0)


def read_rows(
    path: Path,
    *,
    text_column: str,
    subject_column: str | None = None,
    label_column: str | None = None,
    other_columns: tuple[str | None, ...] = (),
) -> Iterator[CsvRow]:
    """The file's rows, each with the reason it cannot be used, if any."""
    if not path.is_file():
        raise CsvFileError(f"{path}: no such file")
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            wanted = (text_column, subject_column, label_column, *other_columns)
            missing = [c for c in wanted if c and c not in header]
            if missing:
                raise CsvFileError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(header)})")
            for line, row in enumerate(reader, start=2):
                problem = _problem(row, text_column, subject_column, label_column)
                yield CsvRow(
                    line=line,
                    text=(row.get(text_column) or "").strip(),
                    subject=(row.get(subject_column) or "").strip() if subject_column else "",
                    label=(row.get(label_column) or "").strip() if label_column else "",
                    values={k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, str)},
                    problem=problem,
                )
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc


def _problem(row: dict[str | None, object], text_col: str, subject_col: str | None, label_col: str | None) -> str:
    if None in row:
        return "more fields than the header"
    text = row.get(text_col)
    if not isinstance(text, str):
        return "fewer fields than the header"
    subject = row.get(subject_col) if subject_col else ""
    label = row.get(label_col) if label_col else ""
    values = [text, subject if isinstance(subject, str) else "", label if isinstance(label, str) else ""]
    if any("\x00" in v for v in values):
        return "NUL byte in the text"
    if not text.strip() and not values[1].strip():
        return "empty text"
    # Measured as stored: stripped and in Unicode's composed form (NFC), as the services keep it.
    if _stored_length(values[1]) > ticket_subject_limit():
        return f"subject longer than {ticket_subject_limit()} characters"
    if _stored_length(text) > settings.TICKET_BODY_MAX_CHARS:
        return f"text longer than {settings.TICKET_BODY_MAX_CHARS} characters"
    if label_col and not values[2].strip():
        return "empty label"
    return ""


def _stored_length(value: str) -> int:
    return len(unicodedata.normalize("NFC", value.strip()))
