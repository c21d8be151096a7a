"""Load a labelled (or unlabelled) ticket history from a CSV file."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from tqdm import tqdm

from triage.models import Category
from triage.services import HistoryRow, category_ensure, tickets_import

BATCH = 2000


class Command(BaseCommand):
    help = "Import tickets from a CSV file; labelled rows count as confirmed history for training."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--text-column", required=True, help="column with the ticket text (the body)")
        parser.add_argument("--subject-column", help="column with the subject, if any")
        parser.add_argument("--label-column", help="column with the category; rows become confirmed history")
        parser.add_argument(
            "--time-column",
            help="column with when the ticket was received (ISO 8601); without it every row gets the import time",
        )
        parser.add_argument("--source", help="source name for idempotent re-imports (default: the file name)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        csv.field_size_limit(sys.maxsize)
        source = options["source"] or f"import:{path.name}"[:64]
        text_col, subject_col, label_col = options["text_column"], options["subject_column"], options["label_column"]
        time_col = options["time_column"]
        with path.open(newline="", encoding="utf-8-sig") as fh:
            total = max(sum(1 for _ in fh) - 1, 0)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in (text_col, subject_col, label_col, time_col) if c and c not in header]
            if missing:
                raise CommandError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(header)})")
            categories: dict[str, Category] = {}
            bad: list[str] = []
            created = 0
            batch: list[HistoryRow] = []
            # Without a time column the file's order says nothing about time (files are
            # often sorted by label), so every row gets the same time and training
            # splits such ties at random rather than by file position.
            imported_at = timezone.now()
            with tqdm(total=total, desc=f"importing {path.name}", unit="row", disable=None) as bar:
                for line, row in enumerate(reader, start=2):
                    bar.update(1)
                    problem = self._problem(row, text_col, subject_col, label_col)
                    received_at = imported_at
                    if not problem and time_col:
                        received_at, problem = self._time(row.get(time_col) or "")
                    if problem:
                        bad.append(f"line {line}: {problem}")
                        continue
                    label = (row[label_col] or "").strip() if label_col else ""
                    category = None
                    if label:
                        if label not in categories:
                            categories[label] = category_ensure(
                                slug=slugify(label)[:120], name=label.replace("_", " ").strip().capitalize()[:120]
                            )
                        category = categories[label]
                    batch.append(
                        HistoryRow(
                            external_id=f"line-{line}",
                            subject=(row[subject_col] or "").strip() if subject_col else "",
                            body=row[text_col].strip(),
                            category=category,
                            received_at=received_at,
                        )
                    )
                    if len(batch) >= BATCH:
                        created += tickets_import(rows=batch, source=source)
                        batch = []
                if batch:
                    created += tickets_import(rows=batch, source=source)
        self.stdout.write(
            f"{created} tickets imported from {path.name} as source {source!r}, "
            f"{len(categories)} categories, {len(bad)} rows skipped"
        )
        for message in bad[:20]:
            self.stderr.write("  skipped " + message)
        if len(bad) > 20:
            self.stderr.write(f"  ... and {len(bad) - 20} more")

    @staticmethod
    def _time(value: str) -> tuple[datetime, str]:
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            return timezone.now(), f"not a date and time: {value[:40]!r}"
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed, ""

    @staticmethod
    def _problem(row: dict[str, Any], text_col: str, subject_col: str | None, label_col: str | None) -> str:
        if None in row:
            return "more fields than the header"
        text = row.get(text_col)
        if text is None:
            return "fewer fields than the header"
        values = [text] + [row.get(c) or "" for c in (subject_col, label_col) if c]
        if any("\x00" in v for v in values):
            return "NUL byte in the text"
        subject = (row.get(subject_col) or "") if subject_col else ""
        if not text.strip() and not subject.strip():
            return "empty text"
        if len(text) > settings.TICKET_BODY_MAX_CHARS:
            return f"text longer than {settings.TICKET_BODY_MAX_CHARS} characters"
        if label_col and not (row.get(label_col) or "").strip():
            return "empty label"
        return ""
