"""What every taxonomy write shares: the refusal it raises and the change it records.

`record` is where every change to the taxonomy, its rules, roles and the admins'
settings is written to the history (TaxonomyChange).
"""

from __future__ import annotations

from typing import Any

from triage.models import Category, TaxonomyChange


class TaxonomyError(Exception):
    """Refused input: `field` names what is wrong (a form field, or "__all__")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConflictError(TaxonomyError):
    """Someone else changed the row since the form was opened."""

    def __init__(self, what: str) -> None:
        super().__init__(
            "__all__",
            f"{what} was changed by someone else since you opened this page. "
            "Nothing was saved: reload to see their change, then try again.",
        )


def record(
    *,
    action: str,
    actor: Any,
    summary: str,
    category: Category | None = None,
    target: Category | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> TaxonomyChange:
    return TaxonomyChange.objects.create(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor.get_username() if actor is not None and actor.is_authenticated else "system",
        category=category,
        target=target,
        summary=summary[:500],
        before=before or {},
        after=after or {},
    )
