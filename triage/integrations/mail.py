"""Mail in. `mail_receive` is where a message becomes a ticket (through
`triage.services.ticket_ingest`), joins its ticket's conversation, or is skipped and
counted; `mailbox_poll` reads a mailbox's new messages and marks each one only after
what it became is committed."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from triage import services
from triage.integrations.crypto import credential_decrypt
from triage.integrations.imap import ImapProblem, ImapSettings, imap_session
from triage.integrations.mailparse import BadMail, NotATicket, ParsedMail, mail_parse, message_key, repair
from triage.integrations.models import Mailbox, MailSkip, TicketMessage
from triage.models import Queue, Ticket, ticket_subject_limit

logger = logging.getLogger(__name__)

# A poll holds its mailbox this long, renewed after every message: a killed worker's
# mailbox is polled again once it runs out.
POLL_LEASE_SECONDS = 300
# A database outage ends the poll: these errors say the database is not there.
DATABASE_DOWN = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class MailOutcome:
    kind: str  # "created", "joined", "duplicate", "not_ticket" or "bad"
    ticket: Ticket | None = None
    reason: str = ""


@dataclass(frozen=True)
class MailSource:
    """Where mail comes from: a mailbox (counted on its page) or an import."""

    source: str
    channel: str = "email"
    queue: Queue | None = None
    mailbox: Mailbox | None = None


def mailbox_channel(mailbox: Mailbox) -> MailSource:
    return MailSource(source=mailbox.source, channel=mailbox.channel, queue=mailbox.queue, mailbox=mailbox)


def mail_receive(*, channel: MailSource, raw: bytes) -> MailOutcome:
    """One message: a new ticket, a reply joining its ticket, a duplicate of one already
    stored, or a skip (not a ticket, or bad mail) with its reason logged and counted."""
    try:
        mail = mail_parse(raw, max_text_chars=settings.MAIL_TEXT_MAX_CHARS)
        if len(mail.new_text) > settings.TICKET_BODY_MAX_CHARS:
            raise BadMail(
                f"the message's own text is {len(mail.new_text):,} characters, "
                f"over the {settings.TICKET_BODY_MAX_CHARS:,} a ticket holds"
            )
    except NotATicket as exc:
        return mail_skip(channel=channel, kind=MailSkip.Kind.NOT_TICKET, reason=str(exc), raw=raw)
    except BadMail as exc:
        return mail_skip(channel=channel, kind=MailSkip.Kind.BAD, reason=str(exc), raw=raw)
    return mail_store(channel=channel, mail=mail)


@transaction.atomic
def mail_store(*, channel: MailSource, mail: ParsedMail, received_at: datetime | None = None) -> MailOutcome:
    """The ticket (or the reply) and its message, in one transaction."""
    if TicketMessage.objects.filter(source=channel.source, message_id=mail.message_id).exists():
        return MailOutcome("duplicate", _ticket_of(channel.source, mail.message_id))
    parent = thread_ticket(mail.thread_ids, channel.source)
    if parent is not None:
        try:
            with transaction.atomic():
                _message(parent, channel.source, mail)
        except IntegrityError:  # the same reply, stored by a concurrent poll
            return MailOutcome("duplicate", parent)
        _count(channel, "replies_joined")
        logger.info("mail %s joined ticket #%s", mail.message_id, parent.pk)
        return MailOutcome("joined", parent)
    subject = mail.subject[: ticket_subject_limit()]
    result = services.ticket_ingest(
        subject=subject,
        body=mail.new_text,
        source=channel.source,
        external_id=mail.message_id,
        channel=channel.channel,
        customer_ref=mail.sender,
        received_at=received_at or _sent_at(mail),
        queue=channel.queue,
    )
    if not result.created:
        return MailOutcome("duplicate", result.ticket)
    _message(result.ticket, channel.source, mail)
    _count(channel, "tickets_created")
    return MailOutcome("created", result.ticket)


def _sent_at(mail: ParsedMail) -> datetime:
    """When the customer wrote: the Date header, never in the future."""
    now = timezone.now()
    return min(mail.sent_at, now) if mail.sent_at else now


def _message(ticket: Ticket, source: str, mail: ParsedMail) -> TicketMessage:
    message = ticket_message(ticket.pk, source, mail)
    message.save()
    return message


def ticket_message(ticket_id: int, source: str, mail: ParsedMail) -> TicketMessage:
    """The conversation row of a message (unsaved): its whole text, what it adds, its attachments."""
    return TicketMessage(
        ticket_id=ticket_id,
        source=source,
        message_id=mail.message_id,
        in_reply_to=mail.in_reply_to,
        sender=mail.sender,
        sender_name=mail.sender_name,
        subject=mail.subject[:500],
        text=mail.text,
        new_text=mail.new_text,
        attachments=[{"name": a.name, "type": a.type, "size": a.size} for a in mail.attachments],
        sent_at=_sent_at(mail),
    )


def _ticket_of(source: str, message_id: str) -> Ticket | None:
    message = TicketMessage.objects.filter(source=source, message_id=message_id).select_related("ticket").first()
    return message.ticket if message else None


def thread_ticket(thread_ids: list[str], source: str) -> Ticket | None:
    """The ticket whose conversation holds a message this one replies to (the nearest
    one it names; of two mailboxes holding it, this one's)."""
    if not thread_ids:
        return None
    found = list(TicketMessage.objects.filter(message_id__in=thread_ids).values_list("message_id", "source", "ticket"))
    for wanted in thread_ids:
        matches = [(s, t) for m, s, t in found if m == wanted]
        if matches:
            ticket_id = next((t for s, t in matches if s == source), matches[0][1])
            return Ticket.objects.get(pk=ticket_id)
    return None


def _count(channel: MailSource, counter: str) -> None:
    if channel.mailbox is not None:
        Mailbox.objects.filter(pk=channel.mailbox.pk).update(**{counter: F(counter) + 1})


def mail_skip(*, channel: MailSource, kind: str, reason: str, raw: bytes) -> MailOutcome:
    """Log and count a message that is not a ticket; counted once however often it is seen."""
    sender, subject, key = _header_summary(raw)
    logger.warning("%s: skipped %s (%s): %s, from %r, subject %r", channel.source, key, kind, reason, sender, subject)
    if channel.mailbox is not None:
        with transaction.atomic():
            _, created = MailSkip.objects.get_or_create(
                mailbox=channel.mailbox,
                message_key=key,
                defaults={"kind": kind, "reason": reason[:300], "sender": sender, "subject": subject},
            )
            if created:
                _count(channel, "not_tickets" if kind == MailSkip.Kind.NOT_TICKET else "bad_mail")
    return MailOutcome(kind, reason=reason)


def _header_summary(raw: bytes) -> tuple[str, str, str]:
    """Sender, subject and identity for the skip log, from the headers alone (they
    parse whatever the body is)."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw.split(b"\r\n\r\n", 1)[0][:65536])
        sender = repair(str(headers.get("From", "")))[:320]
        subject = " ".join(repair(str(headers.get("Subject", ""))).split())[:300]
        message_id = repair(str(headers.get("Message-ID", "")))
    except Exception:  # a header block too broken even for that: the hash still identifies it
        sender = subject = message_id = ""
    return sender, subject, message_key(message_id, raw)


@dataclass(frozen=True)
class PollReport:
    counts: dict[str, int]
    error: str = ""


def mailbox_settings(mailbox: Mailbox, password: str | None = None) -> ImapSettings:
    return ImapSettings(
        host=mailbox.host,
        port=mailbox.port,
        security=mailbox.security,
        username=mailbox.username,
        password=credential_decrypt(mailbox.password_encrypted) if password is None else password,
        folder=mailbox.folder,
        move_to=mailbox.move_to if mailbox.after == Mailbox.After.MOVE else "",
    )


def mailbox_poll(*, mailbox_id: int) -> PollReport | None:
    """Poll one mailbox if no other worker is polling it. None when it was not ours to poll."""
    now = timezone.now()
    claimed = (
        Mailbox.objects.filter(pk=mailbox_id, enabled=True)
        .exclude(poll_lease_until__gt=now)
        .update(poll_lease_until=now + timedelta(seconds=POLL_LEASE_SECONDS), last_polled_at=now)
    )
    if not claimed:
        return None
    mailbox = Mailbox.objects.select_related("queue").get(pk=mailbox_id)
    error = ""
    try:
        counts = mailbox_fetch(mailbox=mailbox)
    except ImapProblem as exc:
        error, counts = f"{exc.step}: {exc.message}", Counter()
        logger.warning("mailbox %s (%s): %s", mailbox.pk, mailbox.name, error)
    except Exception:
        # The database went away mid-poll (or worse): what was not committed stays
        # unread in the mailbox; the next poll takes it from there.
        logger.exception("mailbox %s (%s): poll stopped", mailbox.pk, mailbox.name)
        _release(mailbox, "the poll stopped on an error (logged); unread messages wait for the next poll")
        raise
    _release(mailbox, error)
    return PollReport(counts=dict(counts), error=error)


def _release(mailbox: Mailbox, error: str) -> None:
    now = timezone.now()
    fields = {
        "poll_lease_until": None,
        "next_poll_at": now + timedelta(seconds=mailbox.poll_seconds),
        "last_error": error,
    }
    if not error:
        fields["last_success_at"] = now
    try:
        Mailbox.objects.filter(pk=mailbox.pk).update(**fields)
    except DATABASE_DOWN:
        logger.error("mailbox %s: its poll status could not be saved (database unreachable)", mailbox.pk)


def mailbox_fetch(*, mailbox: Mailbox) -> Counter[str]:
    """Read the mailbox's waiting messages, oldest first; store each, then mark it.

    A message is marked seen (or moved) only after what it became is committed: if
    the database is down, or the worker dies, it stays unread and the next poll
    takes it again (stored once: its Message-ID and the mailbox are its identity).
    """
    channel = mailbox_channel(mailbox)
    counts: Counter[str] = Counter()
    with imap_session(mailbox_settings(mailbox), timeout=settings.MAIL_TIMEOUT_SECONDS) as session:
        uids = session.waiting(settings.MAIL_POLL_BATCH)
        sizes = session.sizes(uids)
        for uid in uids:
            size = sizes.get(uid, 0)
            if size > settings.MAIL_MAX_BYTES:
                outcome = mail_skip(
                    channel=channel,
                    kind=MailSkip.Kind.BAD,
                    reason=f"{size:,} bytes, over the {settings.MAIL_MAX_BYTES:,}-byte limit",
                    raw=session.fetch_header(uid),
                )
            else:
                raw = session.fetch(uid)
                if raw is None:  # deleted meanwhile
                    continue
                outcome = _receive_one(channel, raw)
            session.done(uid)
            counts[outcome.kind] += 1
            Mailbox.objects.filter(pk=mailbox.pk).update(
                poll_lease_until=timezone.now() + timedelta(seconds=POLL_LEASE_SECONDS)
            )
    if counts:
        logger.info("mailbox %s (%s): %s", mailbox.pk, mailbox.name, dict(counts))
    return counts


def _receive_one(channel: MailSource, raw: bytes) -> MailOutcome:
    try:
        return mail_receive(channel=channel, raw=raw)
    except DATABASE_DOWN:
        raise
    except Exception as exc:
        # A message our code cannot store (a bug, a value the database refuses) must
        # not stall the mailbox: it is skipped as bad mail, with the error logged.
        logger.exception("%s: a message could not be stored", channel.source)
        return mail_skip(
            channel=channel,
            kind=MailSkip.Kind.BAD,
            reason=f"could not be stored: {type(exc).__name__}: {str(exc)[:200]}",
            raw=raw,
        )


def mailboxes_due() -> list[int]:
    """Enabled mailboxes whose interval has passed (or never polled) and no worker holds."""
    now = timezone.now()
    return list(
        Mailbox.objects.filter(enabled=True)
        .exclude(next_poll_at__gt=now)
        .exclude(poll_lease_until__gt=now)
        .values_list("pk", flat=True)
    )
