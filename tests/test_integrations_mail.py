"""Mail in, against a real IMAP server (Dovecot): polling, threads, skips, charsets,
bad mail, a database outage, and the mailbox page's connection test."""

from __future__ import annotations

import base64
import logging
import os
from email.message import EmailMessage
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from django.utils import timezone

from tests.integrations_support import database_down, mailbox_for, message, raw_message
from tests.mailserver import ImapServer
from triage.integrations import mail
from triage.integrations.crypto import credential_decrypt
from triage.integrations.models import Mailbox, MailSkip, OutboxEvent, TicketMessage
from triage.models import Queue, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def poll(mailbox: Mailbox) -> dict[str, int]:
    report = mail.mailbox_poll(mailbox_id=mailbox.pk)
    assert report is not None and not report.error, report
    return report.counts


def tickets_of(mailbox: Mailbox) -> list[Ticket]:
    return list(Ticket.objects.filter(source=mailbox.source).order_by("pk"))


def test_new_mail_becomes_suggested_tickets_in_the_mailboxs_queue_and_is_marked_read_after(
    imap_server: ImapServer, live_model: Any
) -> None:
    user = imap_server.user()
    billing = Queue.objects.create(name="Billing", slug="billing")
    mailbox = mailbox_for(imap_server, user, queue=billing)
    imap_server.append(user, message("Card stolen", "My wallet was stolen on the train, please block my card."))
    imap_server.append(user, message("Transfer missing", "My transfer to my landlord has not arrived."))

    assert poll(mailbox) == {"created": 2}

    first, second = tickets_of(mailbox)
    assert first.subject == "Card stolen" and first.channel == "email" and first.customer_ref == "ann@example.com"
    assert first.live_prediction is not None and first.live_prediction.suggested.slug == "lost-or-stolen-card"
    assert first.queue == billing and second.queue == billing  # the mailbox's queue, not the category's
    assert first.external_id and TicketMessage.objects.get(ticket=first).message_id == first.external_id
    assert imap_server.unseen(user) == 0 and imap_server.count(user) == 2  # read, still there
    events = OutboxEvent.objects.filter(ticket=first)
    assert [(e.type, e.sequence) for e in events] == [("ticket.suggested", 1)]
    mailbox.refresh_from_db()
    assert mailbox.tickets_created == 2 and mailbox.last_error == "" and mailbox.last_success_at is not None


def test_a_poll_with_the_database_down_leaves_the_mail_unread_and_the_next_poll_stores_each_once(
    imap_server: ImapServer, live_model: Any
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    for i in range(3):
        imap_server.append(user, message(f"Card declined {i}", f"My card was declined at shop number {i}."))
    loaded = Mailbox.objects.get(pk=mailbox.pk)

    with database_down(), pytest.raises(DatabaseError):
        mail.mailbox_fetch(mailbox=loaded)  # the poll reached IMAP, then could not store

    assert imap_server.unseen(user) == 3  # nothing marked: every message waits
    assert not Ticket.objects.filter(source=mailbox.source).exists()

    assert poll(mailbox) == {"created": 3}
    assert imap_server.unseen(user) == 0
    # Marks lost after the commit (the worker died there): the next poll finds them stored.
    imap_server.mark_all_unseen(user)
    assert poll(mailbox) == {"duplicate": 3}
    assert len(tickets_of(mailbox)) == 3 and imap_server.unseen(user) == 0


def test_a_reply_joins_its_tickets_conversation_instead_of_queueing_again(
    imap_server: ImapServer, live_model: Any, agent: Any
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    first_id = "<first-1@example.com>"
    imap_server.append(user, message("Card declined", "My card was declined at the shop.", message_id=first_id))
    poll(mailbox)
    reply = message(
        "Re: Card declined",
        "It happened again today.\n\n"
        "On Mon, 1 Jan 2026 at 10:00, Support <support@bank.example> wrote:\n> We are looking into it.",
        message_id="<reply-2@example.com>",
        headers={"In-Reply-To": first_id, "References": first_id},
    )
    later = message(
        "Re: Re: Card declined",
        "And a third time.",
        message_id="<reply-3@example.com>",
        headers={"References": f"{first_id} <reply-2@example.com>"},  # no In-Reply-To: References alone
    )
    imap_server.append(user, reply)
    imap_server.append(user, later)

    assert poll(mailbox) == {"joined": 2}

    (ticket,) = tickets_of(mailbox)
    conversation = list(ticket.messages.all())
    assert [m.message_id for m in conversation] == ["first-1@example.com", "reply-2@example.com", "reply-3@example.com"]
    assert conversation[1].new_text == "It happened again today." and "We are looking" in conversation[1].text
    mailbox.refresh_from_db()
    assert mailbox.tickets_created == 1 and mailbox.replies_joined == 2
    client = Client()
    client.force_login(agent)
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Conversation" in page and "It happened again today." in page and "And a third time." in page


def test_auto_replies_bounces_and_delivery_reports_are_skipped_and_counted(
    imap_server: ImapServer, live_model: Any
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    report = raw_message(
        'From: "Mail Delivery System" <notices@mail.example.net>\nSubject: Delivery Status Notification\n'
        "Message-ID: <dsn-1@mail.example.net>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.net\r\n\r\n"
        b"Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n",
    )
    not_tickets = [
        message("Out of office", "I am away until Monday.", headers={"Auto-Submitted": "auto-replied"}),
        message("Automatic reply: Card declined", "I am on holiday."),
        message("Undelivered Mail Returned to Sender", "bounce", sender="MAILER-DAEMON@mail.example.net"),
        message("Weekly digest", "news", headers={"Precedence": "bulk"}),
        report,
    ]
    for raw in not_tickets:
        imap_server.append(user, raw)
    imap_server.append(user, message("Card declined", "My card was declined at the shop."))

    assert poll(mailbox) == {"not_ticket": 5, "created": 1}

    assert [t.subject for t in tickets_of(mailbox)] == ["Card declined"]
    mailbox.refresh_from_db()
    assert mailbox.not_tickets == 5 and imap_server.unseen(user) == 0
    reasons = sorted(MailSkip.objects.filter(mailbox=mailbox).values_list("reason", flat=True))
    assert any("auto-submitted" in r for r in reasons) and any("mailer-daemon" in r for r in reasons)
    assert any("report" in r for r in reasons) and any("bulk" in r for r in reasons)
    imap_server.mark_all_unseen(user)
    poll(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.not_tickets == 5  # counted once, however often seen


JAPANESE = "カードが使えません。至急確認してください。"


def _encoded_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


@pytest.mark.parametrize(
    ("headers", "body", "subject", "text"),
    [
        ("Subject: =?UTF-8?B?Q2FydGUgcmVmdXPDqWUg4oCUIGNhZsOp?=\nContent-Type: text/plain; charset=utf-8",
         "Ma carte a été refusée au café.".encode(), "Carte refusée — café", "Ma carte a été refusée au café."),
        ("Subject: =?ISO-8859-1?Q?Tarjeta_rechazada_en_el_caf=E9?=\nContent-Type: text/plain; charset=iso-8859-1",
         "Mi tarjeta fue rechazada en el café, ¿por qué?".encode("latin-1"), "Tarjeta rechazada en el café",
         "Mi tarjeta fue rechazada en el café, ¿por qué?"),
        ("Subject: Fees\nContent-Type: text/plain; charset=windows-1252",
         "I was charged a €5 fee \u2013 twice \u2013 for “nothing”.".encode("cp1252"), "Fees",
         "I was charged a €5 fee \u2013 twice \u2013 for “nothing”."),
        (f"Subject: {_encoded_word('カードが使えません', 'shift_jis')}\nContent-Type: text/plain; charset=shift_jis",
         JAPANESE.encode("shift_jis"), "カードが使えません", JAPANESE),
        (f"Subject: {_encoded_word('カード', 'iso-2022-jp')}\nContent-Type: text/plain; charset=iso-2022-jp",
         JAPANESE.encode("iso2022_jp"), "カード", JAPANESE),
        # Labels that lie: UTF-8 sent as Latin-1, Windows-1252 sent as UTF-8, no label at all.
        ("Subject: Lying label\nContent-Type: text/plain; charset=iso-8859-1",
         "Ich habe meine Karte verloren, bitte sperren. Grüße".encode(), "Lying label",
         "Ich habe meine Karte verloren, bitte sperren. Grüße"),
        ("Subject: Lying label\nContent-Type: text/plain; charset=utf-8",
         "J'ai perdu ma carte au supermarché, aidez-moi s'il vous plaît.".encode("cp1252"), "Lying label",
         "J'ai perdu ma carte au supermarché, aidez-moi s'il vous plaît."),
        ("Subject: Caf\xe9 raw header\nContent-Type: text/plain", "Où est ma carte ?".encode(), "Café raw header",
         "Où est ma carte ?"),
    ],
    ids=["utf-8", "iso-8859-1", "windows-1252", "shift_jis", "iso-2022-jp", "utf-8-labelled-latin-1",
         "cp1252-labelled-utf-8", "raw-8-bit-headers"],
)  # fmt: skip
def test_every_charset_a_real_inbox_sees_is_read_right(
    imap_server: ImapServer, live_model: Any, headers: str, body: bytes, subject: str, text: str
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    # Headers are ASCII but for the raw 8-bit one, which goes on the wire as UTF-8.
    imap_server.append(user, raw_message(f"From: ann@example.com\nMessage-ID: <{user}@example.com>\n{headers}", body))

    assert poll(mailbox) == {"created": 1}

    (ticket,) = tickets_of(mailbox)
    assert ticket.subject == subject and ticket.body == text


def test_bad_mail_is_skipped_with_its_reason_counted_and_never_stalls_the_mailbox(
    imap_server: ImapServer, live_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    nested = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(1000))
    huge = base64.encodebytes(os.urandom(7_700_000)).replace(b"\n", b"\r\n")  # 10 MB of base64
    bad = [
        raw_message("From: a@example.com\nSubject: nothing\nMessage-ID: <nobody@x>", b"   \r\n"),
        raw_message(
            "From: a@example.com\nSubject: big\nMessage-ID: <big@x>\nContent-Type: text/plain\n"
            "Content-Transfer-Encoding: base64",
            huge,
        ),
        raw_message(
            "From: a@example.com\nSubject: broken\nMessage-ID: <broken@x>\nContent-Type: multipart/mixed",
            b"no boundary anywhere\r\n",
        ),
        raw_message(  # IMAP carries no raw NUL: this one is encoded in the part
            "From: a@example.com\nSubject: nul\nMessage-ID: <nul@x>\nContent-Transfer-Encoding: base64",
            base64.b64encode(b"hello\x00world") + b"\r\n",
        ),
        raw_message(
            "From: a@example.com\nSubject: deep\nMessage-ID: <deep@x>\nContent-Type: multipart/mixed; boundary=b0",
            (nested + "--b1000\r\nContent-Type: text/plain\r\n\r\nhi\r\n").encode(),
        ),
    ]
    for raw in bad:
        imap_server.append(user, raw)
    imap_server.append(user, message("Card declined", "My card was declined at the shop."))

    with caplog.at_level(logging.WARNING, logger="triage.integrations.mail"):
        assert poll(mailbox) == {"bad": 5, "created": 1}

    assert [t.subject for t in tickets_of(mailbox)] == ["Card declined"]
    assert imap_server.unseen(user) == 0  # each marked: none is read again
    mailbox.refresh_from_db()
    assert mailbox.bad_mail == 5
    reasons = dict(MailSkip.objects.filter(mailbox=mailbox).values_list("subject", "reason"))
    assert reasons["nothing"].startswith("no body") and "limit" in reasons["big"]
    assert "malformed MIME" in reasons["broken"] and "NUL" in reasons["nul"] and "MIME tree" in reasons["deep"]
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 5  # each reason logged


def test_the_model_reads_what_the_customer_wrote_and_the_ticket_keeps_the_whole_mail(
    imap_server: ImapServer, live_model: Any, agent: Any
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user)
    body = (
        "My card was stolen yesterday, please block it.\n- it is a Visa\n\n"
        "Best regards,\nAnn Smith\nAcme Ltd | +44 20 1234 5678\n\n"
        "On Mon, 1 Jan 2026 at 10:00, Support <support@bank.example> wrote:\n> How can we help about your transfer?"
    )
    m = EmailMessage()
    m["From"], m["Subject"], m["Message-ID"] = "ann@example.com", "Stolen card", "<sig@example.com>"
    m.set_content(body)
    m.add_alternative(f"<p>{body}</p>", subtype="html")
    m.add_attachment(b"%PDF-1.4 statement", maintype="application", subtype="pdf", filename="statement.pdf")
    imap_server.append(user, m.as_bytes())

    poll(mailbox)

    (ticket,) = tickets_of(mailbox)
    assert ticket.body == "My card was stolen yesterday, please block it.\n- it is a Visa"  # what the model read
    first = ticket.messages.get()
    assert "Acme Ltd" in first.text and "How can we help" in first.text  # the whole mail stays
    assert first.attachments == [{"name": "statement.pdf", "type": "application/pdf", "size": 18}]
    client = Client()
    client.force_login(agent)
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "statement.pdf" in page and "Acme Ltd" in page and "What the model read" in page


def test_read_mail_can_be_moved_to_a_folder(imap_server: ImapServer, live_model: Any) -> None:
    user = imap_server.user()
    imap_server.create_folder(user, "Assist")
    mailbox = mailbox_for(imap_server, user, after=Mailbox.After.MOVE, move_to="Assist")
    imap_server.append(user, message())

    assert poll(mailbox) == {"created": 1}
    assert imap_server.count(user) == 0 and imap_server.count(user, "Assist") == 1


def _test(client: Client, server: ImapServer, user: str, **overrides: Any) -> dict[str, Any]:
    form = {
        "name": "Support",
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": user,
        "password": server.password,
        "folder": "INBOX",
        "after": "seen",
        "channel": "email",
        "poll_seconds": 30,
        **overrides,
    }
    response = client.post("/integrations/mailboxes/test/", form)
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_test_connection_names_the_step_that_failed(imap_server: ImapServer, admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    user = imap_server.user()
    imap_server.append(user, message())
    closed_port = imap_server.port + 1 if imap_server.port < 65535 else imap_server.port - 1

    ok = _test(client, imap_server, user)
    assert ok["ok"] and "1 messages, 1 unseen" in ok["message"]
    assert _test(client, imap_server, user, host="no-such-host.invalid", security="ssl")["step"] == "dns"
    assert _test(client, imap_server, user, port=closed_port)["step"] == "connect"
    assert _test(client, imap_server, user, security="ssl")["step"] == "tls"  # TLS to a plain port
    assert _test(client, imap_server, user, security="starttls")["step"] == "tls"  # not offered
    wrong = _test(client, imap_server, user, password="wrong")
    assert wrong["step"] == "login" and user in wrong["message"] and "wrong" not in wrong["message"]
    missing = _test(client, imap_server, user, folder="Nope")
    assert missing["step"] == "folder" and "INBOX" in missing["message"]


def test_the_password_is_write_only_and_stored_encrypted(
    imap_server: ImapServer, admin_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = imap_server.user()
    client = Client()
    client.force_login(admin_user)
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            "/integrations/mailboxes/new/",
            {
                "name": "Support",
                "host": imap_server.host,
                "port": imap_server.port,
                "security": "none",
                "username": user,
                "password": imap_server.password,
                "folder": "INBOX",
                "after": "seen",
                "channel": "email",
                "poll_seconds": 30,
                "enabled": "on",
            },
        )
    assert response.status_code == 302, response.content
    mailbox = Mailbox.objects.get()
    assert imap_server.password not in mailbox.password_encrypted
    assert credential_decrypt(mailbox.password_encrypted) == imap_server.password
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM triage_mailbox")
        assert imap_server.password not in repr(cursor.fetchall())
    page = client.get(f"/integrations/mailboxes/{mailbox.pk}/").content.decode()
    assert imap_server.password not in page and 'name="password"' in page
    assert all(imap_server.password not in r.getMessage() for r in caplog.records)
    # Saving without a password keeps the stored one.
    client.post(
        f"/integrations/mailboxes/{mailbox.pk}/",
        {"name": "Support desk", "host": imap_server.host, "port": imap_server.port, "security": "none",
         "username": user, "password": "", "folder": "INBOX", "after": "seen", "channel": "email",
         "poll_seconds": 60, "enabled": "on"},
    )  # fmt: skip
    mailbox.refresh_from_db()
    assert mailbox.name == "Support desk" and credential_decrypt(mailbox.password_encrypted) == imap_server.password


def test_a_mailbox_whose_server_is_gone_shows_the_error_and_polls_again_later(
    imap_server: ImapServer, live_model: Any
) -> None:
    user = imap_server.user()
    mailbox = mailbox_for(imap_server, user, host="no-such-host.invalid", security="ssl")
    report = mail.mailbox_poll(mailbox_id=mailbox.pk)
    assert report is not None and report.error.startswith("dns:")
    mailbox.refresh_from_db()
    assert mailbox.last_error.startswith("dns:")
    assert mailbox.next_poll_at is not None and mailbox.next_poll_at > timezone.now()
    assert mailbox.poll_lease_until is None  # free for the next poll


def test_a_mailbox_without_tls_is_refused_unless_its_server_is_on_this_machine(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    form = {"name": "Remote", "host": "imap.example.com", "port": 143, "security": "none", "username": "u",
            "password": "p", "folder": "INBOX", "after": "seen", "channel": "email", "poll_seconds": 30}  # fmt: skip
    response = client.post("/integrations/mailboxes/new/", form)
    assert response.status_code == 400 and "in clear" in response.content.decode()
    assert not Mailbox.objects.exists()
    tested = client.post("/integrations/mailboxes/test/", form).json()
    assert tested["step"] == "tls" and "in clear" in tested["message"]
