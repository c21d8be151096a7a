"""Load a mail history (an mbox file, a Maildir, or a folder of either) as tickets."""

from __future__ import annotations

import mailbox as stdlib_mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction
from django.utils import timezone
from tqdm import tqdm

from triage.integrations.mail import thread_ticket, ticket_message
from triage.integrations.mailparse import BadMail, NotATicket, ParsedMail, mail_parse
from triage.integrations.models import TicketMessage
from triage.management.commands.import_tickets import CategoryPlan, _category_plan
from triage.models import Category, Ticket, ticket_subject_limit
from triage.services import HistoryRow, category_ensure, tickets_import

BATCH = 2000


def _folders(path: Path) -> list[tuple[str, stdlib_mailbox.Mailbox[Any]]]:
    """(folder name, mailbox) pairs: an mbox file is one folder; a Maildir is its inbox
    ("") and its Maildir++ folders; a directory of Maildirs or mbox files is one folder
    each, named by its name."""
    if path.is_file():
        single: list[tuple[str, stdlib_mailbox.Mailbox[Any]]] = [("", stdlib_mailbox.mbox(path, create=False))]
        return single
    if not path.is_dir():
        raise CommandError(f"{path} is neither an mbox file nor a Maildir")
    if (path / "cur").is_dir():
        maildir = stdlib_mailbox.Maildir(path, factory=None, create=False)
        folders: list[tuple[str, stdlib_mailbox.Mailbox[Any]]] = [("", maildir)]
        return folders + [(name, maildir.get_folder(name)) for name in sorted(maildir.list_folders())]
    found: list[tuple[str, stdlib_mailbox.Mailbox[Any]]] = []
    for child in sorted(path.iterdir()):
        if child.is_dir() and (child / "cur").is_dir():
            found.append((child.name, stdlib_mailbox.Maildir(child, factory=None, create=False)))
        elif child.is_file() and not child.name.startswith("."):
            found.append((child.stem, stdlib_mailbox.mbox(child, create=False)))
    if not found:
        raise CommandError(f"{path} holds no Maildir and no mbox file")
    return found


def _messages(folders: list[tuple[str, stdlib_mailbox.Mailbox[Any]]]) -> Iterator[tuple[str, bytes]]:
    for name, box in folders:
        for key in box.iterkeys():
            yield name, box.get_bytes(key)


class Command(BaseCommand):
    help = (
        "Import an mbox file or a Maildir as tickets: all or nothing, replies joined to their thread, "
        "auto-replies and bad mail skipped. With --label-from-folder the folders are the categories."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="an mbox file, a Maildir, or a directory of them")
        parser.add_argument("--label-from-folder", action="store_true", help="folder names are the categories")
        parser.add_argument("--source", help="source name for idempotent re-imports (default: import:<name>)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        source = options["source"] or f"import:{path.name}"[:64]
        if len(source) > 64:
            raise CommandError(f"--source must be at most 64 characters, not {len(source)}")
        try:
            folders = _folders(path)
            total = sum(len(box) for _, box in folders)
        except (OSError, stdlib_mailbox.Error) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        # Read and check everything before storing anything (as import_tickets does).
        parsed: list[tuple[str, ParsedMail]] = []
        skipped: Counter[str] = Counter()
        with tqdm(total=total, desc=f"reading {path.name}", unit="message", disable=None) as bar:
            for folder, raw in _messages(folders):
                bar.update(1)
                try:
                    mail = mail_parse(raw, max_text_chars=settings.MAIL_TEXT_MAX_CHARS)
                    if len(mail.new_text) > settings.TICKET_BODY_MAX_CHARS:
                        raise BadMail(f"its own text is over {settings.TICKET_BODY_MAX_CHARS:,} characters")
                except NotATicket as exc:
                    skipped[f"not a ticket: {exc}"] += 1
                except BadMail as exc:
                    skipped[f"bad mail: {exc}"] += 1
                else:
                    parsed.append((folder if options["label_from_folder"] else "", mail))
        plan = _category_plan(sorted({folder for folder, _ in parsed if folder}))
        if plan.clashes:
            raise CommandError("folders whose categories clash (nothing was imported): " + "; ".join(plan.clashes))
        for label, problem in plan.problems.items():
            skipped[problem] += sum(1 for folder, _ in parsed if folder == label)
        parsed = [(folder, mail) for folder, mail in parsed if folder not in plan.problems]
        created, joined = self._store(parsed, plan, source, path.name)
        self.stdout.write(
            f"{created} tickets imported from {path.name} as source {source!r}, {joined} replies joined their "
            f"ticket, {len(parsed) - created - joined} already imported, {sum(skipped.values())} messages skipped"
        )
        for reason, count in skipped.most_common(20):
            self.stderr.write(f"  skipped {count}: {reason}")

    @staticmethod
    def _store(parsed: list[tuple[str, ParsedMail]], plan: CategoryPlan, source: str, name: str) -> tuple[int, int]:
        """Tickets, their first messages and the replies, in one transaction. A reply
        (In-Reply-To / References) joins the ticket of its thread, in this import or
        already stored, instead of becoming a ticket."""
        now = timezone.now()
        parsed.sort(key=lambda item: item[1].sent_at or now)
        by_id = {mail.message_id: mail for _, mail in parsed}
        # Each message's nearest parent in this import; its thread's first message opens the ticket.
        parent = {
            m.message_id: next((i for i in m.thread_ids if i in by_id and i != m.message_id), None)
            for m in by_id.values()
        }

        def root_of(message_id: str) -> str:
            seen = {message_id}
            while (up := parent[message_id]) is not None and up not in seen:
                seen.add(up)
                message_id = up
            return message_id

        opening: list[tuple[str, ParsedMail]] = []
        stored: dict[str, int] = {}  # a thread's first message here -> the stored ticket it replies to
        done: set[str] = set()
        for folder, mail in parsed:
            if mail.message_id in done or root_of(mail.message_id) != mail.message_id:
                continue
            done.add(mail.message_id)
            ticket = thread_ticket(mail.thread_ids, source)
            if ticket is None:
                opening.append((folder, mail))
            else:
                stored[mail.message_id] = ticket.pk
        # (the opener's message id, or a stored ticket's pk) for every other message
        replies: list[tuple[str | int, ParsedMail]] = []
        for mail in by_id.values():
            root = root_of(mail.message_id)
            if root != mail.message_id or root in stored:
                replies.append((stored.get(root, root), mail))
        try:
            with (
                transaction.atomic(),
                tqdm(total=len(parsed), desc=f"storing {name}", unit="message", disable=None) as bar,
            ):
                categories = {c.slug: c for c in Category.objects.filter(slug__in=set(plan.existing.values()))}
                for slug, new_name in plan.new_names.items():
                    categories[slug] = category_ensure(slug=slug, name=new_name)
                created = 0
                for start in range(0, len(opening), BATCH):
                    rows = []
                    for folder, mail in opening[start : start + BATCH]:
                        category_slug = plan.slug(folder)
                        rows.append(
                            HistoryRow(
                                external_id=mail.message_id,
                                subject=mail.subject[: ticket_subject_limit()],
                                body=mail.new_text,
                                category=categories[category_slug] if category_slug else None,
                                received_at=min(mail.sent_at or now, now),
                                channel="email",
                                customer_ref=mail.sender,
                            )
                        )
                    created += tickets_import(rows=rows, source=source)
                    bar.update(len(rows))
                tickets = dict(
                    Ticket.objects.filter(
                        source=source, external_id__in=[m.message_id for _, m in opening]
                    ).values_list("external_id", "pk")
                )
                known = set(
                    TicketMessage.objects.filter(source=source, message_id__in=list(by_id)).values_list(
                        "message_id", flat=True
                    )
                )
                messages = [ticket_message(tickets[m.message_id], source, m) for _, m in opening]
                for target, mail in replies:
                    ticket_id = target if isinstance(target, int) else tickets[target]
                    messages.append(ticket_message(ticket_id, source, mail))
                TicketMessage.objects.bulk_create(messages, ignore_conflicts=True, batch_size=BATCH)
                bar.update(len(replies))
        except IntegrityError as exc:
            raise CommandError(f"the taxonomy changed while importing, nothing was imported; try again: {exc}") from exc
        return created, sum(1 for _, mail in replies if mail.message_id not in known)
