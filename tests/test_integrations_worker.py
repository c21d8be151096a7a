"""A real Celery worker of the "integrations" queue, killed in the middle of a mailbox
poll: nothing is lost and nothing is stored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, worker_env
from tests.integrations_support import mailbox_for, message
from tests.mailserver import ImapServer
from triage.integrations import mail, tasks
from triage.integrations.models import Mailbox, TicketMessage
from triage.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 150


def test_a_worker_killed_mid_poll_loses_nothing_and_stores_nothing_twice(
    imap_server: ImapServer, live_model: Any, tmp_path: Path, settings: Any
) -> None:
    settings.MAIL_POLL_BATCH = MESSAGES
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    for i in range(MESSAGES):
        imap_server.append(user, message(f"Card declined {i}", f"My card was declined at shop {i}, twice."))
    env = {**worker_env(), "ASSIST_MAIL_POLL_BATCH": str(MESSAGES)}
    celery = [sys.executable, "-m", "celery", "-A", "assist"]
    subprocess.run([*celery, "purge", "-f", "-Q", "integrations"], cwd=ROOT, env=env, capture_output=True, check=True)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [*celery, "worker", "-Q", "integrations", "--concurrency", "1", "--without-gossip", "--without-mingle",
         "--hostname", f"integrations-test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        tasks.mail_poll.delay(mailbox.pk)
        deadline = time.monotonic() + 120
        while not Ticket.objects.filter(source=mailbox.source).exists():
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.02)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # no clean shutdown: mid-poll
        worker.wait()
        log.close()
    stored_when_killed = Ticket.objects.filter(source=mailbox.source).count()
    assert 0 < stored_when_killed < MESSAGES, "the worker finished before it could be killed"
    assert imap_server.unseen(user) >= MESSAGES - stored_when_killed  # the rest waits, unread

    Mailbox.objects.filter(pk=mailbox.pk).update(poll_lease_until=None)  # the dead worker's lease ran out
    report = mail.mailbox_poll(mailbox_id=mailbox.pk)

    assert report is not None and report.counts.get("created", 0) + report.counts.get("duplicate", 0) >= 1
    assert imap_server.unseen(user) == 0
    tickets = Ticket.objects.filter(source=mailbox.source)
    assert tickets.count() == MESSAGES == len(set(tickets.values_list("external_id", flat=True)))
    assert TicketMessage.objects.filter(source=mailbox.source).count() == MESSAGES
    assert sorted(tickets.values_list("subject", flat=True)) == sorted(f"Card declined {i}" for i in range(MESSAGES))
