"""Rename and delete queues (created in `services.queue_create`).

A queue's slug stays when it is renamed: agents' bookmarked queue views (`?queue=slug`)
keep working. A queue that categories still route to is not deleted: the admin moves
them first, so no category loses its routing by surprise.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from triage.models import Category, Queue, TaxonomyChange
from triage.taxonomy.services import TaxonomyError, record


def _locked_queue(queue_id: int) -> Queue:
    queue = Queue.objects.select_for_update().filter(pk=queue_id).first()
    if queue is None:
        raise TaxonomyError("__all__", "That queue does not exist (any more).")
    return queue


@transaction.atomic
def queue_rename(*, actor: Any, queue_id: int, name: str) -> Queue:
    queue = _locked_queue(queue_id)
    name = " ".join(name.split())
    if not name:
        raise TaxonomyError("name", "A queue needs a name.")
    if len(name) > 80:
        raise TaxonomyError("name", "A queue name has at most 80 characters.")
    if name == queue.name:
        return queue
    if Queue.objects.exclude(pk=queue.pk).filter(Q(name__iexact=name)).exists():
        raise TaxonomyError("name", f"A queue named “{name}” already exists.")
    before = queue.name
    try:
        with transaction.atomic():
            Queue.objects.filter(pk=queue.pk).update(name=name)
    except IntegrityError:
        raise TaxonomyError("name", f"A queue named “{name}” was just created by someone else.") from None
    queue.name = name
    record(
        action=TaxonomyChange.Action.QUEUE_EDIT,
        actor=actor,
        summary=f"Queue “{before}” renamed “{name}”",
        before={"queue": queue.slug, "name": before},
        after={"queue": queue.slug, "name": name},
    )
    return queue


@transaction.atomic
def queue_delete(*, actor: Any, queue_id: int) -> str:
    """Delete an empty queue; waiting tickets routed there stay in "all queues". Returns its name."""
    queue = _locked_queue(queue_id)
    routed = list(Category.objects.filter(queue=queue, is_active=True).values_list("name", flat=True)[:6])
    if routed:
        names = ", ".join(f"“{n}”" for n in routed[:5]) + (" and more" if len(routed) > 5 else "")
        raise TaxonomyError("__all__", f"Queue “{queue.name}” still has categories ({names}): move them first.")
    Category.objects.filter(queue=queue).update(queue=None)  # retired ones keep no stale routing
    name, slug = queue.name, queue.slug
    queue.delete()
    record(
        action=TaxonomyChange.Action.QUEUE_DELETE,
        actor=actor,
        summary=f"Queue “{name}” deleted",
        before={"queue": slug},
    )
    return name
