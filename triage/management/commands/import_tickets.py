"""Load a labelled (or unlabelled) ticket history from a CSV file."""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from tqdm import tqdm

from triage.csvfile import CsvFileError, count_rows, read_rows
from triage.models import Category
from triage.services import HistoryRow, categories_create_bulk, tickets_import
from triage.taxonomy.selectors import category_slugs_by_label

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
        if len(source) > 64:
            raise CommandError(f"--source must be at most 64 characters, not {len(source)}")
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
        # Read and check the whole file, and work out every category, before storing
        # anything: a bad row or a label clash must not leave half a file imported.
        bad: list[tuple[int, str]] = []
        pending: list[tuple[int, str, str, str, datetime]] = []
        # Without a time column the file's order says nothing about time (files are
        # often sorted by label), so every row gets the same time and training
        # splits such ties at random rather than by file position.
        imported_at = timezone.now()
        with tqdm(total=total, desc=f"reading {path.name}", unit="row", disable=None) as bar:
            for row in itertools.chain([first] if first else [], rows):
                bar.update(1)
                problem, received_at = row.problem, imported_at
                if not problem and time_col:
                    received_at, problem = self._time(row.values.get(time_col, ""))
                if problem:
                    bad.append((row.line, problem))
                else:
                    pending.append((row.line, row.subject, row.text, row.label, received_at))
        plan = _category_plan(list(dict.fromkeys(label for *_, label, _ in pending if label)))
        if plan.clashes:
            raise CommandError(
                "labels whose categories clash with each other or with the taxonomy (nothing was imported): "
                + "; ".join(plan.clashes[:10])
                + (f"; and {len(plan.clashes) - 10} more" if len(plan.clashes) > 10 else "")
            )
        kept = []
        for line, subject, text, label, received_at in pending:
            if label in plan.problems:
                bad.append((line, plan.problems[label]))
            else:
                kept.append((line, subject, text, label, received_at))
        created, used = self._store(kept, plan, source, path.name)
        already = f" ({len(kept) - created} already imported)" if len(kept) > created else ""
        self.stdout.write(
            f"{created} tickets imported from {path.name} as source {source!r}{already}, "
            f"{len(used)} categories ({len(used & set(plan.new.values()))} new), {len(bad)} rows skipped"
        )
        bad.sort()
        for line, message in bad[:20]:
            self.stderr.write(f"  skipped line {line}: {message}")
        if len(bad) > 20:
            self.stderr.write(f"  ... and {len(bad) - 20} more")

    @staticmethod
    def _store(
        rows: list[tuple[int, str, str, str, datetime]], plan: CategoryPlan, source: str, name: str
    ) -> tuple[int, set[str]]:
        """Create the new categories and store the rows, all or nothing; returns the
        tickets created and the slugs of the categories the rows use."""
        created, used = 0, set[str]()
        try:
            # One transaction: a failure part-way leaves neither categories nor tickets behind.
            with transaction.atomic(), tqdm(total=len(rows), desc=f"storing {name}", unit="row", disable=None) as bar:
                categories = {c.slug: c for c in Category.objects.filter(slug__in=set(plan.existing.values()))}
                categories |= categories_create_bulk(names=plan.new_names)
                for start in range(0, len(rows), BATCH):
                    batch = []
                    for line, subject, text, label, received_at in rows[start : start + BATCH]:
                        category_slug = plan.slug(label)
                        if category_slug:
                            used.add(category_slug)
                        batch.append(
                            HistoryRow(
                                external_id=f"line-{line}",
                                subject=subject,
                                body=text,
                                category=categories[category_slug] if category_slug else None,
                                received_at=received_at,
                            )
                        )
                    created += tickets_import(rows=batch, source=source)
                    bar.update(len(batch))
        except IntegrityError as exc:
            # The taxonomy changed while the file was read (a category added or renamed).
            raise CommandError(f"a category clashed while importing, nothing was imported; try again: {exc}") from exc
        return created, used

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


@dataclass
class CategoryPlan:
    """What each label of a file becomes, worked out before anything is stored."""

    existing: dict[str, str] = field(default_factory=dict)  # label -> slug of a live category
    new: dict[str, str] = field(default_factory=dict)  # label -> slug of a category to create
    new_names: dict[str, str] = field(default_factory=dict)  # slug to create -> its name
    problems: dict[str, str] = field(default_factory=dict)  # label -> why its rows are skipped
    clashes: list[str] = field(default_factory=list)  # reasons the import cannot go ahead

    def slug(self, label: str) -> str | None:
        return (self.existing.get(label) or self.new.get(label)) if label else None


def _category_plan(labels: list[str]) -> CategoryPlan:
    """Each label's category, read as `evaluate` reads labels: a slug or a name in any
    case, a merged category as its survivor. Labels matching nothing get a new category;
    spellings of one name (`card_arrival`, `Card arrival`) share it."""
    plan = CategoryPlan()
    found = category_slugs_by_label(labels)
    unmatched = [label for label in labels if found[label] is None]
    # A label no category answers to may still spell the name a new category would get
    # (`card_arrival` is "Card arrival"), or its slug with hyphens (`card-arrival`).
    again = category_slugs_by_label([key for label in unmatched for key in (_name(label), slugify(_name(label)))])
    for label in unmatched:
        found[label] = again[_name(label)] or again[slugify(_name(label))]
    live = dict(Category.objects.filter(slug__in={s for s in found.values() if s}).values_list("slug", "is_active"))
    new_by_spelling: dict[str, str] = {}  # slugify(name) -> the new category's slug: one look-up a label
    for label in labels:
        slug = found[label]
        if slug is not None:
            if live.get(slug):
                plan.existing[label] = slug
            else:
                plan.problems[label] = f"label {label!r} names the retired category {slug!r}"
            continue
        slug = _slug(label)
        if not slug:
            plan.problems[label] = (
                f"label {label!r} has no Latin letters or digits for a category slug; "
                "add the category on the taxonomy page (with a Latin slug), then import again"
                if any(c.isalnum() for c in label)
                else f"label {label!r} has no letters or digits to name a category by"
            )
            continue
        # Spellings of one name share the category of the first one in the file.
        spelled = slugify(_name(label))
        first = new_by_spelling.get(spelled)
        if first is None:
            first = slug
            if first in plan.new_names:
                plan.clashes.append(f"{label!r} and another label both make the slug {slug!r}")
                continue
            plan.new_names[first] = _name(label)
            new_by_spelling[spelled] = first
        plan.new[label] = first
    _check_new(plan)
    return plan


def _check_new(plan: CategoryPlan) -> None:
    """New categories must not take a slug or name the taxonomy already has (its
    constraints would refuse them half-way through the import)."""
    names = list(plan.new_names.values())
    for name in {n for n in names if names.count(n) > 1}:
        plan.clashes.append(f"several labels make the category name {name!r}")
    # Names are unique whatever their case, as the database lowers them.
    new_by_key = dict(zip(_db_lower(names), plan.new_names, strict=True))
    taken = Category.objects.annotate(lname=Lower("name"))
    taken = taken.filter(Q(slug__in=plan.new_names) | Q(lname__in=list(new_by_key)))
    for slug, name, key in taken.values_list("slug", "name", "lname"):
        clashing = slug if slug in plan.new_names else new_by_key[key]
        label = next(label for label, s in plan.new.items() if s == clashing)
        plan.clashes.append(
            f"label {label!r} would make a category like the existing {name!r} ({slug}); "
            "rename the label to that category's slug or name"
        )


def _db_lower(names: list[str]) -> list[str]:
    """Each name as the database's LOWER() has it: what its unique index compares."""
    lowered: list[str] = []
    with connection.cursor() as cursor:
        for start in range(0, len(names), 500):  # a statement holds at most ~1,600 columns
            chunk = names[start : start + 500]
            cursor.execute("SELECT " + ", ".join(["LOWER(%s)"] * len(chunk)), chunk)  # values are parameters
            lowered.extend(cursor.fetchone())
    return lowered


def _name(label: str) -> str:
    return label.replace("_", " ").strip().capitalize()[:120]


def _slug(label: str) -> str:
    """The label's slug (Category.slug holds Latin letters, digits, '-' and '_'); empty
    when that would lose letters, as slugify drops those of other scripts (Карта)."""
    # "é" is "e" and an accent, which slugify drops; a Cyrillic letter has no Latin form and would go whole.
    decomposed = unicodedata.normalize("NFKD", slugify(label, allow_unicode=True))
    if any(c.isalnum() and not c.isascii() for c in decomposed if not unicodedata.combining(c)):
        return ""
    return slugify(label)[:120]
