"""Load a labelled (or unlabelled) ticket history from a CSV file."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from tqdm import tqdm

from triage.csvfile import CsvFileError, count_rows, read_rows
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
        source = options["source"] or f"import:{path.name}"[:64]
        time_col = options["time_column"]
        try:
            rows = read_rows(
                path,
                text_column=options["text_column"],
                subject_column=options["subject_column"],
                label_column=options["label_column"],
                other_columns=(time_col,),
            )
            first = next(rows, None)  # a generator: the file and header are checked on its first step
            total = count_rows(path)  # reads the whole file: a non-UTF-8 file stops here, before any row is stored
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        categories: dict[str, Category] = {}
        bad: list[str] = []
        created = 0
        batch: list[HistoryRow] = []
        # Without a time column the file's order says nothing about time (files are
        # often sorted by label), so every row gets the same time and training
        # splits such ties at random rather than by file position.
        imported_at = timezone.now()
        with tqdm(total=total, desc=f"importing {path.name}", unit="row", disable=None) as bar:
            for row in itertools.chain([first] if first else [], rows):
                bar.update(1)
                problem, received_at = row.problem, imported_at
                if not problem and time_col:
                    received_at, problem = self._time(row.values.get(time_col, ""))
                if problem:
                    bad.append(f"line {row.line}: {problem}")
                    continue
                category = None
                if row.label:
                    if row.label not in categories:
                        categories[row.label] = category_ensure(
                            slug=slugify(row.label)[:120], name=row.label.replace("_", " ").strip().capitalize()[:120]
                        )
                    category = categories[row.label]
                batch.append(
                    HistoryRow(
                        external_id=f"line-{row.line}",
                        subject=row.subject,
                        body=row.text,
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
