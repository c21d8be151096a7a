"""The reports' tables, and facts for the decisions stored before them."""

import math
from datetime import timedelta

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def backfill_facts(apps, schema_editor):
    """One fact per applied decision already stored (the first decision of its ticket).

    The live prediction's confidence and the "changed later by another agent" flag come
    with the decisions in one query (subqueries), not two queries per decision. Days and
    hours are local, as `decision_fact_record` writes them.
    """
    from django.db.models import Exists, OuterRef, Subquery
    from django.utils import timezone

    Decision = apps.get_model("triage", "Decision")
    Prediction = apps.get_model("triage", "Prediction")
    DecisionFact = apps.get_model("triage", "DecisionFact")
    live_confidence = Prediction.objects.filter(ticket_id=OuterRef("ticket_id"), is_live=True).order_by("id")
    overridden = (
        Decision.objects.filter(ticket_id=OuterRef("ticket_id"), applied=False)
        .exclude(agent_id=OuterRef("agent_id"))
        .exclude(chosen_id=OuterRef("chosen_id"))
    )
    decisions = (
        Decision.objects.filter(applied=True)
        .select_related("ticket")
        .annotate(live_confidence=Subquery(live_confidence.values("confidence")[:1]), is_overridden=Exists(overridden))
        .order_by("created_at", "id")
    )
    batch = []
    hours = set()
    for decision in decisions.iterator(chunk_size=2000):
        confidence = decision.live_confidence
        local = timezone.localtime(decision.created_at)
        day = local.date()
        hour = (decision.agent_id, local.replace(minute=0, second=0, microsecond=0))
        opens_hour = hour not in hours
        hours.add(hour)
        batch.append(
            DecisionFact(
                decision_id=decision.pk,
                ticket_id=decision.ticket_id,
                agent_id=decision.agent_id,
                model_version_id=decision.model_version_id,
                suggested_id=decision.suggested_id,
                chosen_id=decision.chosen_id,
                accepted=decision.accepted,
                blind=decision.ticket.blind,
                confidence=confidence,
                confidence_bucket=None if confidence is None else min(100, math.floor(confidence * 100)),
                language=decision.ticket.language,
                seconds_taken=decision.seconds_taken,
                overridden=decision.is_overridden,
                opens_hour=opens_hour,
                created_at=decision.created_at,
                day=day,
                week=day - timedelta(days=day.weekday()),
            )
        )
        if len(batch) >= 2000:
            DecisionFact.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    DecisionFact.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0008_training_run_worker"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ModelReference",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("class_mix", models.JSONField(default=dict)),
                ("confidence_histogram", models.JSONField(default=list)),
                ("vocabulary", models.JSONField(default=list)),
                ("unseen_share", models.FloatField(default=0.0)),
                ("sample_rows", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "model_version",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="reference", to="triage.modelversion"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="DecisionFact",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("accepted", models.BooleanField()),
                ("blind", models.BooleanField(default=False)),
                ("confidence", models.FloatField(blank=True, null=True)),
                ("confidence_bucket", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("language", models.CharField(blank=True, default="", max_length=8)),
                ("unseen_share", models.FloatField(blank=True, null=True)),
                ("seconds_taken", models.FloatField(blank=True, null=True)),
                ("overridden", models.BooleanField(default=False)),
                ("opens_hour", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField()),
                ("day", models.DateField()),
                ("week", models.DateField()),
                (
                    "agent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "chosen",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="triage.category"
                    ),
                ),
                (
                    "decision",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="fact", to="triage.decision"
                    ),
                ),
                (
                    "model_version",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="triage.modelversion",
                    ),
                ),
                (
                    "suggested",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="triage.category",
                    ),
                ),
                (
                    "ticket",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="fact", to="triage.ticket"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["day", "model_version"], name="fact_day_version"),
                    models.Index(fields=["suggested", "chosen", "day"], name="fact_suggested_chosen_day"),
                    models.Index(fields=["chosen", "day"], name="fact_chosen_day"),
                    models.Index(fields=["week", "suggested"], name="fact_week_suggested"),
                    models.Index(fields=["agent", "created_at"], name="fact_agent_created"),
                    models.Index(fields=["accepted", "confidence"], name="fact_accepted_confidence"),
                    models.Index(fields=["confidence"], name="fact_confidence"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("confidence_bucket__isnull", True), ("confidence_bucket__lte", 100), _connector="OR"
                        ),
                        name="fact_confidence_bucket_0_100",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="QualityCheck",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("correct", models.BooleanField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("reviewed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "decision",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="quality_check", to="triage.decision"
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "ticket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="quality_checks", to="triage.ticket"
                    ),
                ),
                (
                    "verdict",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="triage.category",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["reviewed_at", "created_at"], name="qc_reviewed_created")],
            },
        ),
        migrations.RunPython(backfill_facts, migrations.RunPython.noop),
    ]
