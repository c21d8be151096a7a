"""One email message, as bytes, read into what a ticket needs.

The standard library's `email` package with `policy.default` reads the MIME tree;
text/plain is preferred, HTML is turned into text by inscriptis, each part's bytes are
decoded by what they are rather than only by what their header claims (charset
labels lie), mail-parser-reply separates what the customer wrote from quoted replies,
forwarded history and signatures. Plain Python: no Django here.

A message that is not a ticket (an auto-reply, a bounce, a delivery report) raises
`NotATicket`; one that cannot be read as a support message raises `BadMail`. Both
carry the reason that is logged and counted.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

import charset_normalizer
from inscriptis import get_text
from mailparser_reply import EmailMessage as ReplyMessage
from mailparser_reply.constants import MAIL_LANGUAGES

# Deeper MIME trees than this are not mail a person wrote (and the parser recurses).
MAX_DEPTH = 30
# More multipart declarations than this are refused before the parser runs.
MAX_MULTIPARTS = 200
# A Message-ID longer than the column is kept as its hash, for the message and for the
# replies that refer to it alike.
ID_MAX_CHARS = 200

# Defects of the tree itself (not of one header): what is left is not the message sent.
_STRUCTURAL_DEFECTS = {
    "NoBoundaryInMultipartDefect",
    "StartBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "InvalidMultipartContentTransferEncodingDefect",
}
# Labels that browsers (WHATWG) read as Windows-1252: mail clients send them for it too.
_AS_WINDOWS_1252 = {"ascii", "iso8859-1", "latin-1"}
_WIDER = {"gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932", "euc_kr": "cp949"}
# 7-bit encodings: their bytes are ASCII, so only the label tells them from ASCII.
_SEVEN_BIT = {"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_ext", "iso2022_kr", "utf-7"}
_SUBJECT_AUTO_REPLY = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|auto[- ]?response|out of (the )?office|autosvar|abwesenheit|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord)\b",
    re.IGNORECASE,
)
_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_BLANK_RUNS = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_REPLY_LANGUAGES = sorted(lang for lang in MAIL_LANGUAGES if len(lang) == 2)
# "---------- Forwarded message ---------" (Gmail), "Begin forwarded message:" (Apple Mail).
_FORWARD_MARK = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|original message|weitergeleitete nachricht|message transféré)\s*-{2,}|"
    r"begin forwarded message:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


class NotATicket(Exception):
    """An auto-reply, out-of-office, bounce or delivery report: counted, never queued."""


class BadMail(Exception):
    """The message cannot be read as a support message: skipped with this reason."""


@dataclass(frozen=True)
class Attachment:
    name: str
    type: str
    size: int


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: list[str]
    sender: str
    sender_name: str
    subject: str
    # The whole text as received; `new_text` is what this message adds (what the model reads).
    text: str
    new_text: str
    attachments: list[Attachment] = field(default_factory=list)
    sent_at: datetime | None = None

    @property
    def thread_ids(self) -> list[str]:
        """The ids this message replies to, nearest first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        return ids + [r for r in reversed(self.references) if r not in ids]


def mail_parse(raw: bytes, *, max_text_chars: int) -> ParsedMail:
    """Read one message. Raises NotATicket or BadMail with the reason."""
    if b"\x00" in raw:
        raise BadMail("contains a NUL byte")
    if raw.lower().count(b"multipart/") > MAX_MULTIPARTS:
        raise BadMail(f"MIME tree of more than {MAX_MULTIPARTS} multipart parts, nested or side by side")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        _check_tree(message)
        header = _headers(message)
    except RecursionError as exc:
        raise BadMail(f"MIME tree nested more than {MAX_DEPTH} levels deep") from exc
    except BadMail:
        raise
    except Exception as exc:  # the parser's own failures: a message, not a crash
        raise BadMail(f"unreadable MIME: {type(exc).__name__}: {str(exc)[:120]}") from exc
    message_id = message_key(header["message_id"], raw)
    reason = not_a_ticket_reason(message, header)
    if reason:
        raise NotATicket(reason)
    body_part, text = _body(message)
    if len(text) > max_text_chars:
        raise BadMail(f"text of {len(text):,} characters is over the {max_text_chars:,} limit")
    if "\x00" in text:  # encoded inside a part; PostgreSQL text cannot hold it either
        raise BadMail("contains a NUL byte")
    text = _clean(text)
    if not text.strip():
        raise BadMail("no body: no text or HTML part with words in it")
    return ParsedMail(
        message_id=message_id,
        in_reply_to=header["in_reply_to"],
        references=header["references"],
        sender=header["sender"],
        sender_name=header["sender_name"],
        subject=header["subject"],
        text=text,
        new_text=reply_text(text),
        attachments=_attachments(message, body_part),
        sent_at=header["date"],
    )


def message_key(message_id: str, raw: bytes) -> str:
    """The message's identity: its Message-ID, or (without one) a hash of its bytes,
    the same on every poll."""
    if message_id:
        return normalize_id(message_id)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def normalize_id(value: str) -> str:
    value = value.strip().strip("<>").strip()
    if len(value) > ID_MAX_CHARS:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
    return value


def _check_tree(message: Message) -> None:
    """Depth and structure, walked without recursion."""
    stack: list[tuple[Message, int]] = [(message, 1)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadMail(f"MIME tree nested more than {MAX_DEPTH} levels deep")
        broken = sorted({type(d).__name__ for d in part.defects} & _STRUCTURAL_DEFECTS)
        if broken:
            raise BadMail("malformed MIME tree: " + ", ".join(broken))
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))


def _header_text(message: Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    return repair(str(value)).strip()


def repair(text: str) -> str:
    """Undo the parser's stand-ins for undecodable bytes (raw 8-bit headers): decode
    those bytes by what they are."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"), None)


def _headers(message: Message) -> dict[str, Any]:
    sender, sender_name = "", ""
    try:
        addresses = getattr(message["From"], "addresses", ())
        first: Address | None = addresses[0] if addresses else None
        if first is not None:
            sender, sender_name = repair(first.addr_spec), repair(first.display_name)
    except (AttributeError, IndexError, TypeError, ValueError):
        sender = _header_text(message, "From")
    date = None
    try:
        parsed = getattr(message["Date"], "datetime", None)
        if isinstance(parsed, datetime):
            date = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError):
        date = None
    in_reply_to = _ANGLE_ID.findall(_header_text(message, "In-Reply-To"))
    references = _ANGLE_ID.findall(_header_text(message, "References"))
    return {
        "message_id": _header_text(message, "Message-ID"),
        "in_reply_to": normalize_id(in_reply_to[0]) if in_reply_to else "",
        "references": [normalize_id(r) for r in references][-50:],
        "sender": sender[:320],
        "sender_name": sender_name[:200],
        "subject": " ".join(_header_text(message, "Subject").split()),
        "date": date,
    }


def not_a_ticket_reason(message: Message, header: dict[str, Any]) -> str:
    """Why this message is machine mail (RFC 3834 auto-replies, RFC 3464 delivery
    reports, bounces), or "" for a person's message."""
    auto = _header_text(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted ({auto[:40]})"
    precedence = _header_text(message, "Precedence").lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return f"precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if message.get(name) is not None:
            return f"{name.lower()} header"
    kinds = {part.get_content_type() for part in _parts(message)}
    if kinds & {"multipart/report", "message/delivery-status", "message/disposition-notification"}:
        return "delivery or read report"
    local = header["sender"].split("@", 1)[0].lower()
    if local in _DAEMONS:
        return f"from {local}"
    if _header_text(message, "Return-Path") == "<>":
        return "null sender (a bounce)"
    if _SUBJECT_AUTO_REPLY.match(header["subject"]):
        return "auto-reply subject"
    return ""


def _parts(message: Message) -> list[Message]:
    """Every part in document order, without recursion; an attached message
    (message/rfc822) is one part, not opened."""
    found, stack = [], [message]
    while stack:
        part = stack.pop()
        found.append(part)
        if part.get_content_type() != "message/rfc822" and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(child for child in reversed(payload) if isinstance(child, Message))
    return found


def _body(message: Message) -> tuple[Message | None, str]:
    """The text the customer wrote: text/plain first, else HTML as text."""
    if not isinstance(message, EmailMessage):
        return None, ""
    for kind in ("plain", "html"):
        part = message.get_body(preferencelist=(kind,))
        if part is None:
            continue
        text = part_text(part)
        if kind == "html":
            text = get_text(text)
        if text.strip():
            return part, text
    return None, ""


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def decode_bytes(payload: bytes, declared: str | None) -> str:
    """Text from bytes whose label may lie. Valid UTF-8 is UTF-8 whatever the label
    says (real text in a legacy charset is almost never valid UTF-8); otherwise the
    declared charset, read as mail clients and browsers read it; otherwise
    charset-normalizer's guess."""
    codec = _codec(declared)
    if payload.isascii():
        if codec in _SEVEN_BIT:
            try:
                return payload.decode(codec)
            except UnicodeDecodeError:
                pass
        return payload.decode("ascii")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec and codec != "utf-8":
        try:
            return payload.decode(codec)
        except UnicodeDecodeError:
            pass
    guess = charset_normalizer.from_bytes(payload).best()
    if guess is not None:
        return str(guess)
    return payload.decode("cp1252", errors="replace")


def _codec(declared: str | None) -> str:
    if not declared:
        return ""
    try:
        name = codecs.lookup(declared.strip().strip('"')).name
    except (LookupError, ValueError):
        return ""
    if name in _AS_WINDOWS_1252:
        return "cp1252"
    return _WIDER.get(name, name)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip()


def reply_text(text: str) -> str:
    """What this message adds: quoted replies ("On ... wrote:", Outlook's From:/Sent:
    blocks, "> " lines), forwarded history and the signature removed. The whole text
    when nothing would be left (a bare forward)."""
    # Hyphen lists ("- it is a Visa") are the customer's words, not a signature.
    replies = ReplyMessage(text=text, languages=list(_REPLY_LANGUAGES), keep_hyphen_lists=True).read().replies
    for reply in replies:  # a bare forward says nothing itself: its forwarded message does
        kept = [line for line in reply.body.split("\n") if not line.lstrip().startswith(">")]
        stripped = _BLANK_RUNS.sub("\n\n", _FORWARD_MARK.sub("", "\n".join(kept))).strip()
        if stripped:
            return stripped
    return text


def _attachments(message: Message, body: Message | None) -> list[Attachment]:
    """Every part that is not the body nor a container, by name, type and size."""
    found = []
    for part in _parts(message):
        kind = part.get_content_type()
        if part is body or (part.is_multipart() and kind != "message/rfc822"):
            continue
        name = part.get_filename()
        disposition = (part.get_content_disposition() or "").lower()
        if not name and disposition != "attachment" and part.get_content_maintype() == "text":
            continue  # the other alternative of the body (its HTML or plain twin)
        if kind == "message/rfc822":
            inner = part.get_payload(0)
            size = len(inner.as_bytes()) if isinstance(inner, Message) else 0
            subject = _header_text(inner, "Subject") if isinstance(inner, Message) else ""
            name = name or f"{subject or 'message'}.eml"
        else:
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
        found.append(Attachment(name=repair(name or "(unnamed)")[:200], type=kind, size=size))
    return found
