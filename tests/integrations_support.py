"""Helpers of the integrations tests: mail messages as a mail client writes them, a
mailbox on the test IMAP server, and a database outage (real, on either database)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from django.db import connection

from tests.mailserver import ImapServer
from triage.integrations import services
from triage.integrations.models import Mailbox


def message(
    subject: str = "Card declined",
    body: str = "My card was declined at the supermarket this morning.",
    *,
    sender: str = "Ann Smith <ann@example.com>",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "support@bank.example"
    m["Subject"] = subject
    m["Date"] = formatdate()
    m["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        m[name] = value
    m.set_content(body, charset=charset)
    return m.as_bytes()


def raw_message(headers: str, body: bytes) -> bytes:
    """A message written byte by byte: for charsets that lie and broken mail."""
    return headers.strip().replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + body


def mailbox_for(server: ImapServer, user: str, admin: Any = None, **overrides: Any) -> Mailbox:
    fields: dict[str, Any] = {
        "name": f"Support {user}",
        "host": server.host,
        "port": server.port,
        "security": Mailbox.Security.NONE,
        "username": user,
        "password": server.password,
        "folder": "INBOX",
        "after": Mailbox.After.SEEN,
        "move_to": "",
        "queue": None,
        "channel": "email",
        "poll_seconds": 30,
        "enabled": True,
        "link_template": "",
    }
    fields.update(overrides)
    return services.mailbox_save(actor=admin, **fields)


@contextmanager
def database_down() -> Iterator[None]:
    """The database refuses this process for a while: PostgreSQL stops accepting
    connections to the test database (and drops the open ones); SQLite's file is
    locked by another writer and this process waits 0.2 s at most."""
    settings_dict = connection.settings_dict
    connection.close()
    if connection.vendor == "postgresql":
        import psycopg2

        name = settings_dict["NAME"]
        admin = psycopg2.connect(
            host=settings_dict["HOST"] or "127.0.0.1",
            port=settings_dict["PORT"] or 5432,
            user=settings_dict["USER"],
            dbname="postgres",
        )
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
        try:
            yield
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.close()
            connection.close()
        return
    locker = sqlite3.connect(settings_dict["NAME"], timeout=5, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    options = settings_dict.setdefault("OPTIONS", {})
    timeout = options.get("timeout")
    options["timeout"] = 0.2
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        connection.close()
        options["timeout"] = timeout
