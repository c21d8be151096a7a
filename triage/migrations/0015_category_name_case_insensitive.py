"""Category names are unique whatever their case ("Crypto" and "CRYPTO" are one name).

Names that already clash (two admins created them at the same instant before this
constraint existed) are told apart first: every clashing name but the oldest gets
" (2)", " (3)", ... appended, so the constraint can be added and nothing is lost.
"""

import django.db.models.functions.text
from django.db import migrations, models


def rename_case_duplicates(apps, schema_editor):
    Category = apps.get_model("triage", "Category")
    taken = {name.lower() for name in Category.objects.values_list("name", flat=True)}
    seen: set[str] = set()
    for category in Category.objects.order_by("pk"):
        key = category.name.lower()
        if key not in seen:
            seen.add(key)
            continue
        n = 2
        while True:
            suffix = f" ({n})"
            candidate = category.name[: 120 - len(suffix)] + suffix
            if candidate.lower() not in taken:
                break
            n += 1
        taken.add(candidate.lower())
        seen.add(candidate.lower())
        Category.objects.filter(pk=category.pk).update(name=candidate)


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
