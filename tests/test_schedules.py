"""The periodic tasks: declared in triage/schedules.py, synced after every migrate, and
the nightly retrain's time set by admins on the models page (audited)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from triage.learning.selectors import nightly_retrain
from triage.models import TaxonomyChange
from triage.schedules import NIGHTLY_RETRAIN, SCHEDULES, Daily, Every, schedules_sync

pytestmark = [pytest.mark.django_db]


def rows() -> dict[str, tuple[str, str, bool, str]]:
    """Each periodic task as (task, schedule, enabled, kwargs)."""
    found = {}
    for row in PeriodicTask.objects.select_related("interval", "crontab").exclude(name="celery.backend_cleanup"):
        if row.interval is not None:
            when = f"every {row.interval.every} {row.interval.period}"
        else:
            tab = row.crontab
            when = f"{tab.minute} {tab.hour} {tab.day_of_month} {tab.month_of_year} {tab.day_of_week} {tab.timezone}"
        found[row.name] = (row.task, when, row.enabled, row.kwargs)
    return found


def declared(entry: Any) -> str:
    when = entry.when
    if isinstance(when, Every):
        return f"every {when.minutes} minutes"
    assert isinstance(when, Daily)
    return f"{when.minute} {when.hour} * * * {when.timezone}"


def test_a_migrated_database_holds_exactly_the_declared_schedules() -> None:
    assert rows() == {entry.name: (entry.task, declared(entry), True, json.dumps({})) for entry in SCHEDULES}
    assert rows()[NIGHTLY_RETRAIN.name][1] == "0 2 * * * UTC"


def test_rows_an_install_already_holds_end_as_a_new_database_has_them() -> None:
    fresh = rows()
    # The same rows, as an older install or a hand in the Django admin left them.
    PeriodicTask.objects.all().delete()
    hourly, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.MINUTES)
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(name="Learning housekeeping", task="triage.tasks.housekeeping", interval=hourly)
    PeriodicTask.objects.create(
        name="Reports housekeeping", task="triage.tasks.old_name", interval=every_minute, enabled=False
    )
    schedules_sync()
    assert rows() == fresh
    schedules_sync()  # twice changes nothing and adds nothing
    assert rows() == fresh


def test_a_migrate_keeps_the_nightly_time_an_admin_set(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    assert client.post("/models/schedule/", {"at": "03:30"}).status_code == 302  # unchecked: off
    call_command("migrate", verbosity=0)
    nightly = nightly_retrain()
    assert nightly is not None and (nightly.at.hour, nightly.at.minute) == (3, 30) and not nightly.enabled
    # What the admin set stays; the other rows are as declared.
    housekeeping = rows()["Learning housekeeping"]
    assert housekeeping[1] == "every 1 minutes" and housekeeping[2]


def test_an_admin_sets_the_nightly_retrain_time_on_the_models_page_and_it_is_audited(
    admin_user: Any, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    client = Client()
    client.force_login(admin_user)
    page = client.get("/models/").content.decode()
    assert "Every night at <strong>02:00</strong> (UTC)" in page and 'action="/models/schedule/"' in page

    response = client.post("/models/schedule/", {"at": "03:30", "enabled": "on"}, follow=True)
    assert response.status_code == 200
    assert "Every night at <strong>03:30</strong> (Europe/Paris)" in response.content.decode()
    row = PeriodicTask.objects.select_related("crontab").get(name=NIGHTLY_RETRAIN.name)
    assert (row.crontab.hour, row.crontab.minute, str(row.crontab.timezone)) == ("3", "30", "Europe/Paris")
    assert row.enabled and row.task == "triage.tasks.retrain"
    change = TaxonomyChange.objects.get(action=TaxonomyChange.Action.SCHEDULE)
    assert change.actor == admin_user and change.summary == "Nightly retrain: 02:00 UTC → 03:30 Europe/Paris"
    assert change.before["at"] == "02:00" and change.after == {
        "enabled": True,
        "at": "03:30",
        "cron": "30 3 * * *",
        "timezone": "Europe/Paris",
    }
    # The crontab the other time used is left alone: another task may share it.
    assert CrontabSchedule.objects.filter(hour="2", minute="0").exists()

    # The same again changes and audits nothing; off is recorded.
    client.post("/models/schedule/", {"at": "03:30", "enabled": "on"})
    assert TaxonomyChange.objects.filter(action=TaxonomyChange.Action.SCHEDULE).count() == 1
    client.post("/models/schedule/", {"at": "03:30"})
    assert not PeriodicTask.objects.get(name=NIGHTLY_RETRAIN.name).enabled
    assert TaxonomyChange.objects.filter(action=TaxonomyChange.Action.SCHEDULE).count() == 2
    assert "Off:" in client.get("/models/").content.decode()
    assert "Nightly retrain" in client.get("/taxonomy/").content.decode()  # in the admins' history


@pytest.mark.parametrize("value", ["", "25:00", "3pm", "03:30:99", "x" * 500])
def test_a_nightly_time_that_is_not_a_time_is_refused_and_nothing_changes(admin_user: Any, value: str) -> None:
    client = Client()
    client.force_login(admin_user)
    before = rows()
    response = client.post("/models/schedule/", {"at": value, "enabled": "on"}, follow=True)
    assert response.status_code == 200 and "give the time as hours and minutes" in response.content.decode()
    assert rows() == before and not TaxonomyChange.objects.exists()


def test_only_admins_set_the_nightly_time_and_supervisors_see_it(supervisor: Any, agent: Any) -> None:
    for user, status in [(supervisor, 403), (agent, 403)]:
        client = Client()
        client.force_login(user)
        assert client.post("/models/schedule/", {"at": "04:00", "enabled": "on"}).status_code == status
    client = Client()
    client.force_login(supervisor)
    page = client.get("/models/").content.decode()
    assert "Every night at <strong>02:00</strong>" in page and 'action="/models/schedule/"' not in page
    assert rows()[NIGHTLY_RETRAIN.name][1] == "0 2 * * * UTC"


def test_a_nightly_schedule_set_in_the_django_admin_is_shown_as_it_is(supervisor: Any) -> None:
    odd, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="*/6", timezone="UTC")
    PeriodicTask.objects.filter(name=NIGHTLY_RETRAIN.name).update(crontab=odd)
    client = Client()
    client.force_login(supervisor)
    assert "On a custom schedule: <code>0 */6 * * *</code>" in client.get("/models/").content.decode()


def test_the_time_field_shows_the_nightly_time_in_the_servers_time_zone(admin_user: Any, settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+05:30 all year
    client = Client()
    client.force_login(admin_user)
    page = client.get("/models/").content.decode()
    assert "Every night at <strong>02:00</strong> (UTC)" in page
    assert 'name="at" required value="07:30"' in page and "(Asia/Kolkata)" in page
    client.post("/models/schedule/", {"at": "07:30", "enabled": "on"})
    nightly = nightly_retrain()
    assert nightly is not None and f"{nightly.at:%H:%M} {nightly.timezone}" == "07:30 Asia/Kolkata"
