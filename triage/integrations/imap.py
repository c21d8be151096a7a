"""IMAP through imap-tools: connect step by step so that a failure names its step
(DNS, connection, TLS, login, folder), then read unseen messages without marking
them, and mark (or move) each one only when told to, after its ticket is committed."""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from imap_tools import BaseMailBox, MailMessageFlags
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError, MailboxLoginError

_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")


class ImapProblem(Exception):
    """What failed, and at which step: dns, connect, tls, protocol, login or folder."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        self.message = message
        super().__init__(f"{step}: {message}")


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # "ssl", "starttls" or "none" (Mailbox.Security)
    username: str
    password: str
    folder: str
    move_to: str = ""

    def __repr__(self) -> str:  # never the password, in a log or a traceback
        return f"ImapSettings({self.username}@{self.host}:{self.port}/{self.folder}, {self.security})"


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def plaintext_problem(host: str, security: str) -> str:
    """Why these settings would send the password in clear over a network, or ""."""
    if security == "none" and host.strip().lower() not in LOCAL_HOSTS:
        return "without TLS the password would cross the network in clear: choose SSL/TLS or STARTTLS"
    return ""


class _Connected(BaseMailBox):
    """imap-tools' mailbox over a client this module connected (and so could tell
    which step failed)."""

    def __init__(self, client: imaplib.IMAP4) -> None:
        self._client = client
        super().__init__()

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return self._client


def _connect(s: ImapSettings, timeout: float) -> imaplib.IMAP4:
    where = f"{s.host}:{s.port}"
    problem = plaintext_problem(s.host, s.security)
    if problem:
        raise ImapProblem("tls", problem)
    try:
        socket.getaddrinfo(s.host, s.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ImapProblem("dns", f"“{s.host}” could not be resolved ({exc.strerror})") from exc
    context = ssl.create_default_context()
    try:
        if s.security == "ssl":
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=context, timeout=timeout)
        else:
            client = imaplib.IMAP4(s.host, s.port, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise ImapProblem("tls", f"{where}'s certificate was refused: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise ImapProblem("tls", f"the TLS handshake with {where} failed ({exc.reason or exc})") from exc
    except TimeoutError as exc:
        raise ImapProblem("connect", f"no answer from {where} within {timeout:g} s") from exc
    except ConnectionRefusedError as exc:
        raise ImapProblem("connect", f"{where} refused the connection (no server on that port?)") from exc
    except OSError as exc:
        raise ImapProblem("connect", f"cannot reach {where}: {exc.strerror or exc}") from exc
    except imaplib.IMAP4.error as exc:
        raise ImapProblem("protocol", f"{where} does not answer as an IMAP server ({exc})") from exc
    if s.security == "starttls":
        if "STARTTLS" not in client.capabilities:
            _close(client)
            raise ImapProblem("tls", f"{where} does not offer STARTTLS")
        try:
            client.starttls(ssl_context=context)
        except ssl.SSLCertVerificationError as exc:
            raise ImapProblem("tls", f"{where}'s certificate was refused: {exc.verify_message}") from exc
        except (ssl.SSLError, imaplib.IMAP4.error, OSError) as exc:
            raise ImapProblem("tls", f"STARTTLS with {where} failed ({exc})") from exc
    return client


def _close(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError):
        client.shutdown()


def _server_said(exc: Exception) -> str:
    result = getattr(exc, "command_result", None)
    if result and len(result) > 1 and result[1]:
        first = result[1][0]
        return first.decode(errors="replace") if isinstance(first, bytes) else str(first)
    return str(exc)


@contextmanager
def imap_session(s: ImapSettings, *, timeout: float) -> Iterator[ImapSession]:
    """A logged-in session with the folder selected; raises ImapProblem naming the step."""
    client = _connect(s, timeout)
    mailbox = _Connected(client)
    try:
        try:
            mailbox.login(s.username, s.password, initial_folder=None)
        except UnicodeEncodeError:
            mailbox.login_utf8(s.username, s.password, initial_folder=None)
    except (MailboxLoginError, imaplib.IMAP4.error) as exc:
        _close(client)
        raise ImapProblem("login", f"the server refused the login of “{s.username}”: {_server_said(exc)}") from exc
    try:
        try:
            mailbox.folder.set(s.folder)
        except MailboxFolderSelectError as exc:
            names = ", ".join(f.name for f in mailbox.folder.list()[:20])
            raise ImapProblem("folder", f"there is no folder “{s.folder}” (folders: {names})") from exc
        if s.move_to and not mailbox.folder.exists(s.move_to):
            raise ImapProblem("folder", f"there is no folder “{s.move_to}” to move read messages to")
        yield ImapSession(mailbox, s)
    except (imaplib.IMAP4.abort, OSError) as exc:
        raise ImapProblem("connect", f"the connection to {s.host}:{s.port} was lost ({exc})") from exc
    finally:
        try:
            mailbox.logout()
        except (ImapToolsError, imaplib.IMAP4.error, OSError):
            _close(client)


class ImapSession:
    def __init__(self, mailbox: BaseMailBox, settings: ImapSettings) -> None:
        self.mailbox = mailbox
        self.settings = settings

    def waiting(self, limit: int) -> list[str]:
        """UIDs of the messages not handled yet, oldest first: unseen ones, or with a
        folder to move them to, every one still here."""
        criteria = "UNDELETED" if self.settings.move_to else "UNSEEN UNDELETED"
        uids = self.mailbox.uids(criteria)
        return sorted(uids, key=int)[:limit]

    def sizes(self, uids: list[str]) -> dict[str, int]:
        if not uids:
            return {}
        typ, data = self.mailbox.client.uid("FETCH", ",".join(uids), "(RFC822.SIZE)")
        sizes: dict[str, int] = {}
        for item in data if typ == "OK" else []:
            line = item[0] if isinstance(item, tuple) else item
            match = _SIZE.search(line) if isinstance(line, bytes) else None
            if match:
                uid, size = (match[1], match[2]) if match[1] else (match[4], match[3])
                sizes[uid.decode()] = int(size)
        return sizes

    def fetch(self, uid: str, part: str = "BODY.PEEK[]") -> bytes | None:
        """The message's bytes without setting \\Seen (None if it was expunged meanwhile)."""
        typ, data = self.mailbox.client.uid("FETCH", uid, f"({part})")
        if typ != "OK":
            return None
        for item in data:
            if isinstance(item, tuple) and len(item) > 1 and isinstance(item[1], bytes):
                return item[1]
        return None

    def fetch_header(self, uid: str) -> bytes:
        return self.fetch(uid, "BODY.PEEK[HEADER]") or b""

    def done(self, uid: str) -> None:
        """Handled: moved to the read folder, or marked seen."""
        if self.settings.move_to:
            self.mailbox.move(uid, self.settings.move_to)
        else:
            self.mailbox.flag(uid, MailMessageFlags.SEEN, True)


def connection_test(s: ImapSettings, *, timeout: float) -> str:
    """One line for the admin: what was found, or ImapProblem with the failed step."""
    with imap_session(s, timeout=timeout) as session:
        status = session.mailbox.folder.status(s.folder, ["MESSAGES", "UNSEEN"])
    return (
        f"Connected to {s.host}:{s.port} as {s.username}: “{s.folder}” holds {status.get('MESSAGES', 0)} "
        f"messages, {status.get('UNSEEN', 0)} unseen."
    )
