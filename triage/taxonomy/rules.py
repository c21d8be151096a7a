"""Routing rules: keyword or regex, applied at ingest before the model.

Each process keeps the active rules compiled and reloads them at most every
MODEL_REFRESH_SECONDS (like the model). The first matching rule, in position
order, makes the suggestion; the Prediction then says "rule: <name>".
"""

from __future__ import annotations

import logging
import re._constants as re_constants
import re._parser as re_parser
import threading
import time
from dataclasses import dataclass
from typing import Any

import regex as re  # like re, with a timeout: a rule runs on every incoming ticket
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q

from triage.models import Category, Decision, Prediction, RoutingRule, TaxonomyChange
from triage.taxonomy.changes import TaxonomyError, record

logger = logging.getLogger(__name__)

MAX_PATTERN = 300
# A pattern that backtracks catastrophically ("(a+)+b") must not hold up ingest: the
# whole rule set gets this long per ticket; a search still running then counts as no
# match (and the rules after it are skipped), and is logged.
MATCH_TIMEOUT_SECONDS = 0.05
# On save, a regex is tried on adversarial texts (`_adversarial_texts`); one search
# longer than this refuses the pattern. Far below the ingest budget: a pattern that
# needs milliseconds on 400 characters needs seconds on 4,000.
SAVE_CHECK_SECONDS = 0.01
ADVERSARIAL_LENGTH = 400


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    field: str
    regex: Any  # a compiled `regex` pattern
    category: Category
    urgent: bool

    def matches(self, subject: str, body: str, deadline: float | None = None) -> bool:
        return self.match(subject, body, deadline) is not None

    def match(self, subject: str, body: str, deadline: float | None = None) -> str | None:
        """The text the rule matched in this ticket, or None. `deadline` (a
        time.monotonic() value) bounds the search; past it, no match."""
        deadline = time.monotonic() + MATCH_TIMEOUT_SECONDS if deadline is None else deadline
        if self.field in (RoutingRule.Field.SUBJECT, RoutingRule.Field.ANY):
            found = self._search(subject, deadline)
            if found is not None or self.field == RoutingRule.Field.SUBJECT:
                return found
        return self._search(body, deadline)

    def _search(self, text: str, deadline: float) -> str | None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuleBudgetSpent(self.name)
        try:
            found = self.regex.search(text, timeout=left)
        except TimeoutError:
            raise RuleBudgetSpent(self.name) from None
        return None if found is None else found.group(0)


class RuleBudgetSpent(Exception):
    """The ticket's time for routing rules ran out during this rule's search."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def compile_pattern(kind: str, pattern: str) -> Any:
    """The rule's pattern as a case-insensitive regex; TaxonomyError("pattern") if invalid."""
    if not pattern or not pattern.strip():
        raise TaxonomyError("pattern", "A rule needs a pattern.")
    if len(pattern) > MAX_PATTERN:
        raise TaxonomyError("pattern", f"A pattern has at most {MAX_PATTERN} characters.")
    if kind == RoutingRule.Kind.CONTAINS:
        return re.compile(re.escape(pattern.strip()), re.IGNORECASE)
    if kind != RoutingRule.Kind.REGEX:
        raise TaxonomyError("kind", f"Unknown rule kind “{kind}”.")
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise TaxonomyError("pattern", f"Not a valid regular expression: {exc}.") from None
    if regex.search("") is not None:
        raise TaxonomyError("pattern", "This regex matches every ticket (it matches empty text).")
    return regex


def check_backtracking(regex: Any, pattern: str) -> None:
    """Refuse a regex that backtracks catastrophically: it is tried on texts built to
    make nested quantifiers like `(a+)+$` explode, and must answer each quickly."""
    for text in _adversarial_texts(pattern):
        try:
            regex.search(text, timeout=SAVE_CHECK_SECONDS)
        except TimeoutError:
            sample = text[:12] + "…" + text[-3:]
            raise TaxonomyError(
                "pattern",
                f"This regex backtracks catastrophically: on a {len(text)}-character text like “{sample}” it "
                f"took over {SAVE_CHECK_SECONDS * 1000:g} ms, and longer texts take exponentially longer. "
                "Avoid nested quantifiers such as (a+)+ or (\\w+\\s?)*: quantify the inner part only.",
            ) from None


def _adversarial_texts(pattern: str) -> list[str]:
    """Runs of each character the pattern repeats (or of a word character, a space and
    a digit when it names classes), followed by one that breaks the match: where a
    nested quantifier tries every way to split the run."""
    runs = {"a", " ", "0", "a ", "ab"}
    try:
        parsed = re_parser.parse(pattern)
    except re_constants.error:  # the `regex` module accepts syntax `re` does not
        parsed = None
    if parsed is not None:
        runs |= _repeated_literals(parsed)
    texts = []
    for run in sorted(runs):
        body = (run * (ADVERSARIAL_LENGTH // len(run) + 1))[:ADVERSARIAL_LENGTH]
        texts += [body + "!", "!" + body + "\x00"]
    return texts


def _repeated_literals(parsed: Any) -> set[str]:
    """The literal text inside each repeat of a parsed pattern ("a" in `(a+)+`, "ab" in `(ab)*`)."""
    found: set[str] = set()
    for op, arg in parsed:
        if op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT, re_constants.POSSESSIVE_REPEAT):
            inner = arg[2]
            chars = "".join(chr(a) for o, a in _flat(inner) if o == re_constants.LITERAL)
            if chars:
                found.add(chars[:8])
            found |= _repeated_literals(inner)
        elif op == re_constants.SUBPATTERN:
            found |= _repeated_literals(arg[-1])
        elif op == re_constants.BRANCH:
            for branch in arg[1]:
                found |= _repeated_literals(branch)
    return found


def _flat(parsed: Any) -> list[tuple[Any, Any]]:
    items: list[tuple[Any, Any]] = []
    for op, arg in parsed:
        if op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT, re_constants.POSSESSIVE_REPEAT):
            items += _flat(arg[2])
        elif op == re_constants.SUBPATTERN:
            items += _flat(arg[-1])
        elif op == re_constants.BRANCH:
            items += _flat(arg[1][0])  # one way through: the text the others compete for
        else:
            items.append((op, arg))
    return items


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[CompiledRule] = []
        self.checked_at = float("-inf")


_cache = _Cache()


def active_rules() -> list[CompiledRule]:
    now = time.monotonic()
    if now - _cache.checked_at < settings.MODEL_REFRESH_SECONDS:
        return _cache.rules
    with _cache.lock:
        if now - _cache.checked_at >= settings.MODEL_REFRESH_SECONDS:
            _cache.rules = _load()
            _cache.checked_at = now
    return _cache.rules


def reset() -> None:
    with _cache.lock:
        _cache.rules = []
        _cache.checked_at = float("-inf")


def _load() -> list[CompiledRule]:
    rules = RoutingRule.objects.filter(is_active=True, category__is_active=True).select_related(
        "category", "category__parent", "category__queue"
    )
    compiled = []
    for rule in rules:
        try:
            regex = compile_pattern(rule.kind, rule.pattern)
        except TaxonomyError:
            continue  # validated when saved; never let one bad row stop ingest
        compiled.append(CompiledRule(rule.pk, rule.name, rule.field, regex, rule.category, rule.urgent))
    return compiled


@dataclass(frozen=True)
class RuleMatch:
    rule: CompiledRule
    matched: str  # the ticket's text the pattern matched


def rule_match(subject: str, body: str) -> RuleMatch | None:
    """The first active rule that matches this ticket, or None. All the rules together
    get MATCH_TIMEOUT_SECONDS per ticket; when that runs out, no rule matched."""
    deadline = time.monotonic() + MATCH_TIMEOUT_SECONDS
    for rule in active_rules():
        try:
            matched = rule.match(subject, body, deadline)
        except RuleBudgetSpent as spent:
            logger.warning(
                "routing rules took over %ss on a ticket (stopped in rule %r): treated as no match",
                MATCH_TIMEOUT_SECONDS,
                spent.rule,
            )
            return None
        if matched is not None:
            return RuleMatch(rule=rule, matched=matched)
    return None


def _validate(*, name: str, field: str, kind: str, pattern: str, category: Category | None, exclude: int | None) -> str:
    name = " ".join(name.split())
    if not name:
        raise TaxonomyError("name", "A rule needs a name.")
    others = RoutingRule.objects.exclude(pk=exclude) if exclude else RoutingRule.objects.all()
    if others.filter(name__iexact=name).exists():
        raise TaxonomyError("name", f"A rule named “{name}” already exists.")
    if field not in RoutingRule.Field.values:
        raise TaxonomyError("field", f"Unknown field “{field}”.")
    regex = compile_pattern(kind, pattern)
    if kind == RoutingRule.Kind.REGEX:
        check_backtracking(regex, pattern)
    if category is None:
        raise TaxonomyError("category", "Choose the category the rule routes to.")
    if not category.is_active:
        raise TaxonomyError("category", f"“{category.name}” is retired: a rule must route to an active category.")
    return name


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "field": rule.field,
        "kind": rule.kind,
        "pattern": rule.pattern,
        "category": rule.category.slug,
        "urgent": rule.urgent,
        "position": rule.position,
        "is_active": rule.is_active,
    }


@transaction.atomic
def rule_create(
    *,
    actor: Any,
    name: str,
    field: str,
    kind: str,
    pattern: str,
    category: Category | None,
    urgent: bool = False,
    position: int = 100,
) -> RoutingRule:
    name = _validate(name=name, field=field, kind=kind, pattern=pattern, category=category, exclude=None)
    assert category is not None
    try:
        with transaction.atomic():
            rule = RoutingRule.objects.create(
                name=name,
                field=field,
                kind=kind,
                pattern=pattern,
                category=category,
                urgent=urgent,
                position=position,
                created_by=actor,
            )
    except IntegrityError:
        raise TaxonomyError("name", f"A rule named “{name}” already exists.") from None
    record(
        action=TaxonomyChange.Action.RULE_CREATE,
        actor=actor,
        category=category,
        summary=f"Rule “{name}” created",
        after=_snapshot(rule),
    )
    transaction.on_commit(reset)
    return rule


@transaction.atomic
def rule_update(
    *,
    actor: Any,
    rule_id: int,
    version: int,
    name: str,
    field: str,
    kind: str,
    pattern: str,
    category: Category | None,
    urgent: bool,
    position: int,
    is_active: bool,
) -> RoutingRule:
    rule = RoutingRule.objects.select_for_update(of=("self",)).select_related("category").filter(pk=rule_id).first()
    if rule is None:
        raise TaxonomyError("__all__", "That rule does not exist (any more).")
    name = _validate(name=name, field=field, kind=kind, pattern=pattern, category=category, exclude=rule.pk)
    assert category is not None
    before = _snapshot(rule)
    try:
        with transaction.atomic():  # another admin may take the name between the check and here
            updated = RoutingRule.objects.filter(pk=rule.pk, version=version).update(
                version=version + 1,
                name=name,
                field=field,
                kind=kind,
                pattern=pattern,
                category=category,
                urgent=urgent,
                position=position,
                is_active=is_active,
            )
    except IntegrityError:
        raise TaxonomyError("name", f"A rule named “{name}” was just created by someone else.") from None
    if updated != 1:
        raise TaxonomyError(
            "__all__",
            f"Rule “{rule.name}” was changed by someone else since you opened this page. "
            "Nothing was saved: reload to see their change, then try again.",
        )
    rule.refresh_from_db()
    after = _snapshot(rule)
    keys = [k for k in after if before[k] != after[k]]
    if keys:
        record(
            action=TaxonomyChange.Action.RULE_EDIT,
            actor=actor,
            category=category,
            summary=f"Rule “{rule.name}” edited: {', '.join(keys)}",
            before={k: before[k] for k in keys},
            after={k: after[k] for k in keys},
        )
    transaction.on_commit(reset)
    return rule


@transaction.atomic
def rule_delete(*, actor: Any, rule_id: int, version: int) -> None:
    rule = RoutingRule.objects.select_for_update(of=("self",)).select_related("category").filter(pk=rule_id).first()
    if rule is None:
        raise TaxonomyError("__all__", "That rule does not exist (any more).")
    if rule.version != version:
        raise TaxonomyError(
            "__all__", f"Rule “{rule.name}” was changed by someone else since you opened this page: reload first."
        )
    before = _snapshot(rule)
    rule.delete()  # its predictions keep rule_name; their rule link becomes NULL
    record(
        action=TaxonomyChange.Action.RULE_DELETE,
        actor=actor,
        category=rule.category,
        summary=f"Rule “{before['name']}” deleted",
        before=before,
    )
    transaction.on_commit(reset)


@dataclass
class RuleStats:
    fired: int = 0
    decided: int = 0
    agreed: int = 0
    backtest_matched: int = 0
    backtest_agreed: int = 0

    @property
    def precision(self) -> float | None:
        return self.agreed / self.decided if self.decided else None

    @property
    def backtest_precision(self) -> float | None:
        return self.backtest_agreed / self.backtest_matched if self.backtest_matched else None

    @property
    def weak(self) -> bool:
        """Below 80 % on at least 10 decisions, live or backtested."""
        for value, n in ((self.precision, self.decided), (self.backtest_precision, self.backtest_matched)):
            if value is not None and n >= 10 and value < 0.8:
                return True
        return False


def rule_stats(rules: list[RoutingRule]) -> dict[int, RuleStats]:
    """Each rule's precision against agents' decisions: on the tickets it routed
    (live), and replayed on the most recent decided tickets (backtest)."""
    stats = {rule.pk: RuleStats() for rule in rules}
    # Counted per ticket, judged by its confirmed label: a supervisor's quality-check
    # correction adds a second decision to a ticket, and it is the final word.
    # An undone decision is no verdict on the rule.
    applied = Q(ticket__decisions__applied=True, ticket__decisions__undo__isnull=True)
    live = (
        Prediction.objects.filter(rule__in=rules, is_live=True)
        .values("rule")
        .annotate(
            fired=Count("id", distinct=True),
            decided=Count("ticket", distinct=True, filter=applied),
            agreed=Count("ticket", distinct=True, filter=applied & Q(ticket__category=F("suggested"))),
        )
    )
    for row in live:
        s = stats[row["rule"]]
        s.fired, s.decided, s.agreed = row["fired"], row["decided"], row["agreed"]
    compiled: list[CompiledRule] = []
    for rule in rules:
        try:
            regex = compile_pattern(rule.kind, rule.pattern)
        except TaxonomyError:
            continue
        compiled.append(CompiledRule(rule.pk, rule.name, rule.field, regex, rule.category, rule.urgent))
    recent = (
        Decision.objects.filter(applied=True, undo__isnull=True)
        .order_by("-created_at", "-pk")
        .values_list("ticket_id", "ticket__subject", "ticket__body", "chosen_id")[: settings.RULE_BACKTEST_DECISIONS]
    )
    replayed: set[int] = set()
    for ticket_id, subject, body, chosen in recent:
        if ticket_id in replayed:  # an earlier decision, since corrected
            continue
        replayed.add(ticket_id)
        deadline = time.monotonic() + MATCH_TIMEOUT_SECONDS
        for check in compiled:
            try:
                hit = check.matches(subject, body, deadline)
            except RuleBudgetSpent:
                break  # as at ingest: the rules after it never ran on this ticket
            if hit:
                s = stats[check.id]
                s.backtest_matched += 1
                s.backtest_agreed += int(chosen == check.category.pk)
    return stats
