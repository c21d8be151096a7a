"""Category names are unique whatever their case ("Crypto" and "CRYPTO" are one name).

Names that already clash (two admins created them at the same instant before this
constraint existed) are told apart first: every clashing name but the oldest gets
" (2)", " (3)", ... appended, so the constraint can be added and nothing is lost.
Going back drops the constraint and leaves those names as they are.
"""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def rename_case_duplicates(apps, schema_editor):
    """Names are compared as the constraint will compare them: by the database's own
    LOWER(), which differs from Python's outside ASCII (SQLite lowers ASCII only)."""
    Category = apps.get_model("triage", "Category")
    connection = schema_editor.connection

    def lowered(name: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT LOWER(%s)", [name])
            return cursor.fetchone()[0]

    rows = list(Category.objects.annotate(key=Lower("name")).order_by("pk").values_list("pk", "name", "key"))
    taken = {key for _, _, key in rows}
    seen: set[str] = set()
    for pk, name, key in rows:
        if key not in seen:
            seen.add(key)
            continue
        n = 2
        while True:
            suffix = f" ({n})"
            candidate = name[: 120 - len(suffix)] + suffix
            candidate_key = lowered(candidate)
            if candidate_key not in taken:
                break
            n += 1
        taken.add(candidate_key)
        seen.add(candidate_key)
        Category.objects.filter(pk=pk).update(name=candidate)


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0014_prediction_abstain_retired"),
    ]

    operations = [
        migrations.RunPython(rename_case_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="category",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"), name="category_name_case_insensitive_unique"
            ),
        ),
    ]
