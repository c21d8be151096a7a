"""The taxonomy (issue 5): queues, routing rules, splits, the change history, and a
sanctioned way past the append-only trigger on decisions for merge/split relabels."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Decisions stay append-only, except an UPDATE that only moves `chosen` and/or
# `suggested` along a RelabelPermit row the same transaction inserted (merge, split).
PERMITTED = """
    (NEW.chosen_id = OLD.chosen_id OR EXISTS (SELECT 1 FROM triage_relabelpermit p
        WHERE p.from_category_id = OLD.chosen_id AND p.to_category_id = NEW.chosen_id))
    AND (NEW.suggested_id IS NOT DISTINCT FROM OLD.suggested_id OR EXISTS (SELECT 1 FROM triage_relabelpermit p
        WHERE p.from_category_id = OLD.suggested_id AND p.to_category_id = NEW.suggested_id))
    AND (NEW.chosen_id <> OLD.chosen_id OR NEW.suggested_id IS DISTINCT FROM OLD.suggested_id)
    AND NEW.id = OLD.id AND NEW.ticket_id = OLD.ticket_id AND NEW.agent_id = OLD.agent_id
    AND NEW.accepted = OLD.accepted AND NEW.applied = OLD.applied
    AND NEW.model_version_id IS NOT DISTINCT FROM OLD.model_version_id
    AND NEW.seconds_taken IS NOT DISTINCT FROM OLD.seconds_taken AND NEW.created_at = OLD.created_at
"""
MESSAGE = "triage_decision is append-only: decisions are never rewritten"

TRIGGER_SQL = {
    "postgresql": (
        f"""
        CREATE OR REPLACE FUNCTION triage_decision_append_only() RETURNS trigger AS $$
        BEGIN
            IF {PERMITTED} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{MESSAGE}';
        END;
        $$ LANGUAGE plpgsql;
        """,
        f"""
        CREATE OR REPLACE FUNCTION triage_decision_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '{MESSAGE}';
        END;
        $$ LANGUAGE plpgsql;
        """,
    ),
    "sqlite": (
        f"""
        DROP TRIGGER IF EXISTS triage_decision_no_update;
        CREATE TRIGGER triage_decision_no_update BEFORE UPDATE ON triage_decision
        WHEN NOT ({PERMITTED.replace("IS NOT DISTINCT FROM", "IS").replace("IS DISTINCT FROM", "IS NOT")})
        BEGIN
            SELECT RAISE(ABORT, '{MESSAGE}');
        END;
        """,
        f"""
        DROP TRIGGER IF EXISTS triage_decision_no_update;
        CREATE TRIGGER triage_decision_no_update BEFORE UPDATE ON triage_decision
        BEGIN
            SELECT RAISE(ABORT, '{MESSAGE}');
        END;
        """,
    ),
}

DEFAULT_QUEUES = [
    ("urgent", "Urgent", 0),
    ("cards", "Cards", 10),
    ("payments", "Payments", 20),
    ("general", "General", 30),
]


def permit_relabels(apps, schema_editor):
    sql = TRIGGER_SQL.get(schema_editor.connection.vendor)
    if sql:
        _execute(schema_editor, sql[0])


def forbid_relabels(apps, schema_editor):
    sql = TRIGGER_SQL.get(schema_editor.connection.vendor)
    if sql:
        _execute(schema_editor, sql[1])


def _execute(schema_editor, sql):
    if schema_editor.connection.vendor == "sqlite":
        # SQLite runs one statement per execute(); a trigger body holds a ';'.
        drop, create = sql.split(";", 1)
        schema_editor.execute(drop)
        schema_editor.execute(create)
    else:
        schema_editor.execute(sql)


def create_queues(apps, schema_editor):
    Queue = apps.get_model("triage", "Queue")
    for slug, name, position in DEFAULT_QUEUES:
        Queue.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0008_training_run_worker"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Queue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80, unique=True)),
                ("slug", models.SlugField(max_length=80, unique=True)),
                ("position", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["position", "name"],
            },
        ),
        migrations.CreateModel(
            name="RelabelPermit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="RoutingRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=120, unique=True)),
                (
                    "field",
                    models.CharField(
                        choices=[("subject", "Subject"), ("body", "Body"), ("any", "Subject or body")],
                        default="any",
                        max_length=8,
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("contains", "contains (case-insensitive)"),
                            ("regex", "matches the regex (case-insensitive)"),
                        ],
                        default="contains",
                        max_length=8,
                    ),
                ),
                ("pattern", models.CharField(max_length=300)),
                ("urgent", models.BooleanField(default=False)),
                ("position", models.PositiveIntegerField(default=100)),
                ("is_active", models.BooleanField(default=True)),
                ("version", models.PositiveIntegerField(default=1)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["position", "id"],
            },
        ),
        migrations.CreateModel(
            name="Split",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="SplitItem",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("guess_confidence", models.FloatField(default=0.0)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="TaxonomyChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("create", "Created"),
                            ("edit", "Edited"),
                            ("retire", "Retired"),
                            ("restore", "Restored"),
                            ("merge", "Merged"),
                            ("split", "Split"),
                            ("relabel", "Relabelled after a split"),
                            ("threshold", "Auto-triage threshold"),
                            ("rule_create", "Rule created"),
                            ("rule_edit", "Rule edited"),
                            ("rule_delete", "Rule deleted"),
                            ("queue_create", "Queue created"),
                            ("role", "Role changed"),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor_name", models.CharField(blank=True, max_length=150)),
                ("summary", models.CharField(max_length=500)),
                ("before", models.JSONField(default=dict)),
                ("after", models.JSONField(default=dict)),
                ("retrain_pending", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("manage_users", "Can give users their roles")],
            },
        ),
        migrations.AddField(
            model_name="category",
            name="auto_threshold",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="category",
            name="color",
            field=models.CharField(default="#5d6677", max_length=7),
        ),
        migrations.AddField(
            model_name="category",
            name="merged_into",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="triage.category",
            ),
        ),
        migrations.AddField(
            model_name="category",
            name="min_examples",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="category",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="children",
                to="triage.category",
            ),
        ),
        migrations.AddField(
            model_name="category",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddField(
            model_name="category",
            name="urgent",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="category",
            name="version",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="prediction",
            name="rule_name",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.AddField(
            model_name="ticket",
            name="urgent",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="model_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="predictions",
                to="triage.modelversion",
            ),
        ),
        migrations.AlterField(
            model_name="ticket",
            name="label_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Unconfirmed"),
                    ("agent", "Agent decision"),
                    ("import", "Imported history"),
                    ("auto", "Auto-triaged"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="LabelChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "field",
                    models.CharField(
                        choices=[
                            ("ticket.category", "Ticket category"),
                            ("decision.chosen", "Decision: chosen"),
                            ("decision.suggested", "Decision: suggested"),
                        ],
                        max_length=24,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "decision",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="triage.decision",
                    ),
                ),
                (
                    "new_category",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="triage.category"
                    ),
                ),
                (
                    "old_category",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="triage.category"
                    ),
                ),
                (
                    "ticket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="triage.ticket"
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="category",
            name="queue",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="categories",
                to="triage.queue",
            ),
        ),
        migrations.AddField(
            model_name="ticket",
            name="queue",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="triage.queue"
            ),
        ),
        migrations.AddConstraint(
            model_name="category",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("auto_threshold__isnull", True),
                    models.Q(("auto_threshold__gte", 0.0), ("auto_threshold__lte", 1.0)),
                    _connector="OR",
                ),
                name="category_auto_threshold_0_1",
            ),
        ),
        migrations.AddField(
            model_name="relabelpermit",
            name="from_category",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="triage.category"
            ),
        ),
        migrations.AddField(
            model_name="relabelpermit",
            name="to_category",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="triage.category"
            ),
        ),
        migrations.AddField(
            model_name="routingrule",
            name="category",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="rules", to="triage.category"
            ),
        ),
        migrations.AddField(
            model_name="routingrule",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="prediction",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="predictions",
                to="triage.routingrule",
            ),
        ),
        migrations.AddConstraint(
            model_name="prediction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("model_version__isnull", False), models.Q(("rule_name", ""), _negated=True), _connector="OR"
                ),
                name="prediction_model_or_rule",
            ),
        ),
        migrations.AddField(
            model_name="split",
            name="created_by",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="split",
            name="source",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="splits", to="triage.category"
            ),
        ),
        migrations.AddField(
            model_name="split",
            name="targets",
            field=models.ManyToManyField(related_name="+", to="triage.category"),
        ),
        migrations.AddField(
            model_name="splititem",
            name="chosen",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="triage.category",
            ),
        ),
        migrations.AddField(
            model_name="splititem",
            name="decided_by",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="splititem",
            name="guess",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="triage.category",
            ),
        ),
        migrations.AddField(
            model_name="splititem",
            name="split",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="items", to="triage.split"
            ),
        ),
        migrations.AddField(
            model_name="splititem",
            name="ticket",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="triage.ticket"),
        ),
        migrations.AddField(
            model_name="taxonomychange",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="taxonomychange",
            name="category",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="triage.category",
            ),
        ),
        migrations.AddField(
            model_name="taxonomychange",
            name="retrain_run",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="triage.trainingrun",
            ),
        ),
        migrations.AddField(
            model_name="taxonomychange",
            name="target",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="triage.category",
            ),
        ),
        migrations.AddField(
            model_name="labelchange",
            name="change",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="label_changes", to="triage.taxonomychange"
            ),
        ),
        migrations.AddConstraint(
            model_name="splititem",
            constraint=models.UniqueConstraint(fields=("split", "ticket"), name="split_item_unique_ticket"),
        ),
        migrations.AddIndex(
            model_name="taxonomychange",
            index=models.Index(fields=["-created_at"], name="taxchange_created"),
        ),
        migrations.AddIndex(
            model_name="taxonomychange",
            index=models.Index(
                condition=models.Q(("retrain_pending", True)),
                fields=["retrain_pending"],
                name="taxchange_retrain_pending",
            ),
        ),
        migrations.AddIndex(
            model_name="labelchange",
            index=models.Index(fields=["ticket"], name="labelchange_ticket"),
        ),
        migrations.RunPython(permit_relabels, forbid_relabels),
        migrations.RunPython(create_queues, migrations.RunPython.noop),
    ]
