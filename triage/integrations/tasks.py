"""Celery tasks of the integrations, on their own queue ("integrations", Procfile's
integrations worker). Thin: each calls one service."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from triage.integrations import mail, outbox
from triage.integrations.models import Mailbox

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def mail_poll(mailbox_id: int) -> dict[str, int] | None:
    """Poll one mailbox. Late acknowledgement: a worker killed mid-poll leaves the task
    to another; the messages it had not committed are still unread."""
    report = mail.mailbox_poll(mailbox_id=mailbox_id)
    return report.counts if report else None


@shared_task
def mail_poll_due() -> int:
    """Every few seconds (beat): send a poll for each mailbox whose interval has passed.
    Its next time is claimed first, so a slow poll is not sent twice. Without Redis the
    web process polls instead (its pushes reach the pages; runner.py)."""
    if settings.INTEGRATIONS_IN_WEB:
        return 0
    sent = 0
    now = timezone.now()
    for mailbox_id, seconds in Mailbox.objects.filter(pk__in=mail.mailboxes_due()).values_list("pk", "poll_seconds"):
        claimed = (
            Mailbox.objects.filter(pk=mailbox_id)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
            .update(next_poll_at=now + timedelta(seconds=seconds))
        )
        if claimed:
            mail_poll.delay(mailbox_id)
            sent += 1
    return sent


@shared_task(acks_late=True)
def outbox_run() -> int:
    """Fan new events out and deliver what is due: after each recorded event, and
    every few seconds (beat) for retries whose time has come."""
    return outbox.outbox_run()
