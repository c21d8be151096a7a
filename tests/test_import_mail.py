"""`manage.py import_mail PATH`: an mbox file or a Maildir as ticket history."""

from __future__ import annotations

import mailbox
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from tests.integrations_support import message, raw_message
from triage.integrations.models import TicketMessage
from triage.models import Category, Ticket


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_mail", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_maildirs_folders_are_the_categories_and_replies_join_their_ticket(
    categories: dict[str, Category], tmp_path: Path
) -> None:
    root = mailbox.Maildir(tmp_path / "support")
    declined = root.add_folder("Card declined")
    lost = root.add_folder("lost-or-stolen-card")  # an existing category's slug
    declined.add(message("Declined", "My card was declined at the shop.", message_id="<d1@x>"))
    declined.add(message("Declined again", "Declined twice today.", message_id="<d2@x>"))
    lost.add(message("Lost", "I lost my card on the bus.", message_id="<l1@x>"))
    root.add(message("Re: Lost", "Found it in my coat.", message_id="<l2@x>", headers={"In-Reply-To": "<l1@x>"}))
    root.add(message("Question", "Do you have a branch in Leeds?", message_id="<q1@x>"))
    root.add(message("Away", "I am on holiday.", message_id="<a1@x>", headers={"Auto-Submitted": "auto-replied"}))
    root.add(raw_message("From: a@x\nSubject: empty\nMessage-ID: <e1@x>", b"  \r\n"))

    out, err = run(str(tmp_path / "support"), "--label-from-folder")

    assert "4 tickets imported" in out and "1 replies joined" in out and "2 messages skipped" in out
    assert "not a ticket: auto-submitted" in err and "bad mail: no body" in err
    by_id = {t.external_id: t for t in Ticket.objects.filter(source="import:support")}
    assert set(by_id) == {"d1@x", "d2@x", "l1@x", "q1@x"}
    assert by_id["d1@x"].category.name == "Card declined" and by_id["d1@x"].label_source == "import"
    assert by_id["l1@x"].category == categories["lost-or-stolen-card"]
    assert by_id["q1@x"].category is None and by_id["q1@x"].status == "new"
    assert [m.message_id for m in by_id["l1@x"].messages.all()] == ["l1@x", "l2@x"]

    again, _ = run(str(tmp_path / "support"), "--label-from-folder")
    assert "0 tickets imported" in again and Ticket.objects.count() == 4 and TicketMessage.objects.count() == 5


def test_an_mbox_is_imported_all_or_nothing(categories: Any, tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "history.mbox")
    for i in range(3):
        box.add(message(f"Transfer {i}", f"My transfer {i} has not arrived.", message_id=f"<t{i}@x>"))
    box.flush()

    with (
        mock.patch.object(TicketMessage.objects, "bulk_create", autospec=True, side_effect=IntegrityError("boom")),
        pytest.raises(CommandError, match="nothing was imported"),
    ):
        run(str(tmp_path / "history.mbox"))
    assert not Ticket.objects.exists()

    out, _ = run(str(tmp_path / "history.mbox"))
    assert "3 tickets imported" in out and Ticket.objects.filter(source="import:history.mbox").count() == 3


def test_a_path_that_is_no_mail_is_refused(db: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="neither an mbox file nor a Maildir"):
        run(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="no Maildir and no mbox"):
        run(str(tmp_path / "empty"))
