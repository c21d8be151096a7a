"""One ticket's row in the agents' queue: the page and the websocket push both use it.

Every new ticket renders this row once, on the ingest path, so it is built with
`format_html` rather than a template: the same escaping (every value passes
through `conditional_escape`) at about half the cost of the equivalent Django
template (`bench/ingest.py`; docs/ingest.md). Ticket text is only ever inserted through
`format_html` placeholders or `highlight()`, which escapes it.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import regex
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from triage.formats import when_text
from triage.integrations.links import source_link
from triage.models import Prediction, Ticket

BODY_CHARS = 600
ALTERNATIVES_SHOWN = 3
# What "Needs a human" says, by Prediction.abstain_reason. Rows stored before the
# reason was recorded ("") name both causes: a ticket held back for its unfamiliar
# words can show a high confidence, so "unsure" alone would mislead.
NEEDS_HUMAN_TEXT = {
    Prediction.AbstainReason.UNFAMILIAR: "the ticket is unlike what the model learned from (words it has not seen)",
    Prediction.AbstainReason.NOVEL: "the ticket is unlike every ticket the model learned from (a new kind of request?)",
    Prediction.AbstainReason.UNSURE: "the model is not sure enough of any category",
    "": "the model is unsure, or the ticket is unlike what it learned from",
}
NEEDS_HUMAN_TITLE = "The model is not confident enough, or the ticket is unlike what it was trained on."


def percent(value: float | None) -> str:
    """A confidence as agents read it; never "100%", a model is never that sure."""
    if value is None:
        return ""
    if value < 0.01:
        return "<1%"
    if value >= 0.995:
        return ">99%"
    return f"{value * 100:.0f}%"


def age(elapsed: timedelta) -> str:
    """How long a ticket has waited, as static/triage/queue.js writes it when it refreshes ages."""
    s = max(0, int(elapsed.total_seconds()))
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} h {s // 60 % 60} min ago"
    return f"{s // 86400} d ago"


def highlight(text: str, prediction: Prediction | None) -> SafeString:
    """The text, escaped, with the words that weighed for the suggestion in <mark>
    (none when the model abstained: its reasons would mislead)."""
    reasons = [] if prediction is None or prediction.needs_human else prediction.reasons
    terms = sorted({unicodedata.normalize("NFC", r["term"]) for r in reasons if r.get("term")}, key=len, reverse=True)
    if not terms:
        return conditional_escape(text)
    text = unicodedata.normalize("NFC", text)  # as the model read it (tickets stored before NFC at ingest)
    spans = _term_spans(text, terms)
    parts, last = [], 0
    for start, end in _term_spans_by_regex(text, terms) if spans is None else spans:
        parts.append(escape(text[last:start]))
        parts.append(format_html("<mark>{}</mark>", text[start:end]))
        last = end
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped above


_DOTLESS_I = "\u0131"
# A letter, digit or underscore, or a combining mark (\p{M}): part of the word it follows.
_WORD_CHAR = regex.compile(r"[\w\p{M}]")


def _term_spans(text: str, terms: list[str]) -> list[tuple[int, int]] | None:
    """Where the terms occur in the text as whole words, case-insensitively, left to
    right without overlaps, the longer term first where two start at one place: what
    `_term_spans_by_regex` finds, by plain string search (every ticket renders this
    row on the ingest path, where compiling a new pattern per ticket cost more than
    classifying it; docs/ingest.md).
    Case is compared by case folding, which is context-free (unlike lower(),
    which turns a word's last "Σ" into "ς"). None when folding changes the
    length of the text or of a term (as "ß" → "ss" and "İ" do), so that positions
    in the folded text would not be positions in the text, and for the Turkish
    dotless i (U+0131), which the pattern matches with "I" and folding does not (the only
    such character in Unicode, checked by a review against every character).
    """
    lowered = text.casefold()
    if len(lowered) != len(text) or _DOTLESS_I in lowered:
        return None
    found = []
    for rank, term in enumerate(terms):  # longest first
        needle = term.casefold()
        if len(needle) != len(term) or _DOTLESS_I in needle:
            return None
        start = lowered.find(needle)
        while start != -1:
            end = start + len(needle)
            if not (start and _WORD_CHAR.match(text, start - 1)) and not _WORD_CHAR.match(text, end):
                found.append((start, rank, end))
            start = lowered.find(needle, start + 1)
    spans: list[tuple[int, int]] = []
    for start, _, end in sorted(found):
        if not spans or start >= spans[-1][1]:
            spans.append((start, end))
    return spans


def _term_spans_by_regex(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """The same as `_term_spans`, by one pattern of the terms (the reference)."""
    pattern = regex.compile(
        "|".join(rf"(?<![\w\p{{M}}]){regex.escape(t)}(?![\w\p{{M}}])" for t in terms), regex.IGNORECASE
    )
    return [match.span() for match in pattern.finditer(text)]


def ticket_row(ticket: Ticket, names: dict[str, str]) -> SafeString:
    """The <li> for one waiting ticket. `names` maps category slugs to display names."""
    p = ticket.shown_prediction
    received = timezone.localtime(ticket.received_at) if timezone.is_aware(ticket.received_at) else ticket.received_at
    subject = highlight(ticket.subject, p) if ticket.subject else "(no subject)"
    return format_html(
        '<li class="ticket{}" id="ticket-{}" data-ticket-id="{}" data-suggested="{}" data-queue="{}" '
        'data-choice="{}" data-confidence="{}" data-human="{}" data-channel="{}" data-language="{}" tabindex="-1">\n'
        '  <div class="ticket-head">\n'
        '    <input type="checkbox" class="pick" aria-label="Select ticket #{} for bulk triage">\n'
        '    <h2 class="subject">{}{}</h2>\n'
        '    <span class="meta">{}<span class="channel">{}</span>{}{} · '
        '<time class="age" datetime="{}" title="{}">{}</time></span>\n'
        "  </div>\n"
        '  <p class="body">{}</p>\n'
        "{}"
        "</li>\n",
        " urgent" if ticket.urgent else "",
        ticket.pk,
        ticket.pk,
        p.suggested.slug if p and not p.needs_human else "",
        ticket.queue.slug if ticket.queue_id and ticket.queue else "",
        # What the page checks a pushed row against its filters with (static/triage/queue.js).
        p.suggested.slug if p else "",
        f"{p.confidence:.4f}" if p else "",
        "1" if p is None or p.needs_human else "0",
        ticket.channel,
        ticket.language,
        ticket.pk,
        mark_safe('<span class="urgent-badge">Urgent</span> ') if ticket.urgent else "",
        subject,
        _ticket_link(ticket),
        ticket.get_channel_display(),
        format_html(" · {}", ticket.customer_ref) if ticket.customer_ref else "",
        _source_link(ticket),
        dateformat.format(received, "c"),
        when_text(received),
        age(timezone.now() - ticket.received_at),
        highlight(Truncator(ticket.body).chars(BODY_CHARS), p),
        _suggestion(p, names),
    )


def _ticket_link(ticket: Ticket) -> SafeString | str:
    """The ticket page's and the source system's links: for a stored ticket only (a
    row can be rendered before, as a preview)."""
    if ticket.pk is None:
        return ""
    return format_html(
        '<a class="ticket-link" href="{}" title="Open the ticket page">#{}</a> · ',
        reverse("ticket", args=[ticket.pk]),
        ticket.pk,
    )


def _source_link(ticket: Ticket) -> SafeString | str:
    link = source_link(ticket) if ticket.pk is not None else ""
    if not link:
        return ""
    return format_html(
        ' · <a class="source-link" href="{}" target="_blank" rel="noopener noreferrer">source ↗</a>', link
    )


def _suggestion(p: Prediction | None, names: dict[str, str]) -> SafeString:
    if p is None:
        return mark_safe('  <p class="no-suggestion">No suggestion: choose a category ( / )</p>\n')
    needs_human = (
        format_html(
            '  <p class="needs-human" title="{}">Needs a human: {}. Pick a category ( / or a digit ).</p>\n',
            NEEDS_HUMAN_TITLE,
            NEEDS_HUMAN_TEXT.get(p.abstain_reason, NEEDS_HUMAN_TEXT[""]),
        )
        if p.needs_human
        else ""
    )
    first = format_html(
        '    <button type="button" class="choice{}" data-category="{}" data-key="1"><kbd>1</kbd> '
        '<span class="cat-name">{}</span> <span class="conf">{}</span></button>\n',
        "" if p.needs_human else " suggested",
        p.suggested.slug,
        p.suggested.label,
        "rule" if p.rule_name else percent(p.confidence),
    )
    others = format_html_join(
        "",
        '    <button type="button" class="choice" data-category="{}" data-key="{}"><kbd>{}</kbd> '
        '<span class="cat-name">{}</span> <span class="conf">{}</span></button>\n',
        (
            (alt["category"], key, key, names.get(alt["category"], alt["category"]), percent(alt["confidence"]))
            for key, alt in enumerate(p.alternatives[:ALTERNATIVES_SHOWN], start=2)
        ),
    )
    return format_html(
        '{}  <div class="choices" role="group" aria-label="Suggested categories">\n{}{}  </div>\n{}',
        needs_human,
        first,
        others,
        _reasons(p),
    )


def _reasons(p: Prediction) -> SafeString | str:
    if p.rule_name:
        matched = format_html(": matched “{}”", p.rule_matched) if p.rule_matched else ""
        why = format_html_join(" ", "<mark>{}</mark>", ((r["term"],) for r in p.reasons))
        model = format_html(" · the model agrees: {}", why) if p.reasons else ""
        return format_html(
            '  <p class="reasons rule-source">Suggested by rule “{}”{}{}</p>\n', p.rule_name, matched, model
        )
    if p.reasons and not p.needs_human:
        marks = format_html_join(" ", "<mark>{}</mark>", ((r["term"],) for r in p.reasons))
        return format_html('  <p class="reasons">Why: {}</p>\n', marks)
    return ""
