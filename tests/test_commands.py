"""The command-line tools: seeding the demo, importing a history, feeding tickets live."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import api_key
from triage import roles
from triage.models import Category, Ticket


def test_seed_demo_creates_a_labelled_history_and_the_role_users(db: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from triage.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "LOGINS_FILE", tmp_path / "logins.txt")
    out = StringIO()
    call_command("seed_demo", tickets=120, stdout=out)
    assert Category.objects.count() == 12
    # Urgent categories sit in the Urgent queue; every demo category has a queue.
    urgent = Category.objects.filter(urgent=True)
    assert set(urgent.values_list("slug", flat=True)) == {"lost-or-stolen-card", "suspected-fraud"}
    assert set(urgent.values_list("queue__slug", flat=True)) == {"urgent"}
    assert not Category.objects.filter(queue__isnull=True).exists()
    assert Ticket.objects.filter(status="triaged", category__isnull=False).count() == 120
    assert len({t.body for t in Ticket.objects.all()}) > 80  # varied, not one template
    for username, role in [("agent", "agent"), ("supervisor", "supervisor"), ("admin", "admin")]:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        password = next(line.split(" / ")[1] for line in out.getvalue().splitlines() if f" {username} / " in line)
        assert user.check_password(password)
    assert "Authorization: Token" in (tmp_path / "logins.txt").read_text()
    call_command("seed_demo", tickets=120, stdout=StringIO())  # again: nothing duplicated
    assert Ticket.objects.count() == 120


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_import_creates_categories_and_skips_bad_rows_with_reasons(db: Any, tmp_path: Path) -> None:
    csv_file = write_csv(
        tmp_path / "history.csv",
        "text,category\n"
        "I am still waiting on my card?,card_arrival\n"
        "My card payment was declined,declined_card_payment\n"
        ",card_arrival\n"
        "no label here,\n"
        '"nul\x00byte",card_arrival\n'
        "what is the fee for top up,top_up_fee\n"
        "too,many,fields\n",
    )
    out, err = StringIO(), StringIO()
    call_command("import_tickets", str(csv_file), text_column="text", label_column="category", stdout=out, stderr=err)
    assert "3 tickets imported" in out.getvalue() and "4 rows skipped" in out.getvalue()
    for reason in ["line 4: empty text", "line 5: empty label", "line 6: NUL byte", "line 8: more fields"]:
        assert reason in err.getvalue()
    assert set(Category.objects.values_list("slug", "name")) == {
        ("card_arrival", "Card arrival"),
        ("declined_card_payment", "Declined card payment"),
        ("top_up_fee", "Top up fee"),
    }
    assert Ticket.objects.filter(status="triaged", label_source="import").count() == 3
    # No time column: the rows' order is not their time, so they all get the import time.
    assert Ticket.objects.values("received_at").distinct().count() == 1
    again = StringIO()
    call_command(
        "import_tickets",
        str(csv_file),
        text_column="text",
        label_column="category",
        stdout=again,
        stderr=StringIO(),
    )
    assert Ticket.objects.count() == 3  # re-import is idempotent, and says so
    assert "0 tickets imported from" in again.getvalue() and "(3 already imported)" in again.getvalue()


def test_import_reads_times_and_skips_bad_ones(db: Any, tmp_path: Path) -> None:
    csv_file = write_csv(
        tmp_path / "timed.csv",
        "created,text,label\n2026-01-02T10:00:00Z,second,b\n2026-01-01 09:00,first,a\nlast tuesday,bad,a\n",
    )
    err = StringIO()
    call_command(
        "import_tickets",
        str(csv_file),
        text_column="text",
        label_column="label",
        time_column="created",
        stdout=StringIO(),
        stderr=err,
    )
    assert "line 4: not a date and time" in err.getvalue()
    assert list(Ticket.objects.order_by("received_at").values_list("body", flat=True)) == ["first", "second"]


def test_import_refuses_a_missing_column_or_file(db: Any, tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "h.csv", "body,label\nx,y\n")
    with pytest.raises(CommandError, match="no column text"):
        call_command("import_tickets", str(csv_file), text_column="text")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_tickets", str(tmp_path / "missing.csv"), text_column="text")


def test_import_refuses_a_file_that_is_not_utf8_and_stores_nothing(db: Any, tmp_path: Path) -> None:
    csv_file = tmp_path / "latin1.csv"
    rows = "".join(f"card {i} arrived,card-delivery\n" for i in range(3000))
    latin1 = "my card was d\xe9clin\xe9d,card-declined\n".encode("latin-1")
    csv_file.write_bytes(b"text,label\n" + rows.encode() + latin1)
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_tickets", str(csv_file), text_column="text", label_column="label")
    assert not Ticket.objects.exists()


def test_feed_posts_tickets_through_the_api(asgi_server: str, integration: Any, live_model: Any) -> None:
    token = api_key(integration)
    out = StringIO()
    call_command("feed_tickets", rate=50, count=3, url=asgi_server, token=token, stdout=out, stderr=StringIO())
    assert "posted 3 tickets" in out.getvalue()
    tickets = Ticket.objects.filter(source="demo-feed")
    assert tickets.count() == 3 and all(t.status == "new" and t.live_prediction for t in tickets)


def test_demo_month_leaves_decisions_the_reports_can_show(
    live_model: Any, agent: Any, second_agent: Any, supervisor: Any
) -> None:
    from triage.demo_activity import demo_month_make
    from triage.models import Decision, DecisionFact

    supervisor.groups.set(agent.groups.all())  # a third agent: the newest, slower one
    retrains: list[Any] = []
    month = demo_month_make(
        agents=[agent, second_agent, supervisor], weeks=1, retrain=lambda when, why: retrains.append(when)
    )
    decisions = Decision.objects.filter(ticket__source="demo-activity")
    assert month.decisions == decisions.count() > 60
    assert set(decisions.values_list("agent__username", flat=True)) == {"alice", "bob", "sam"}
    # Mostly accepted, as agents of a good model do, but not all: the reports have both.
    assert 0.5 * month.decisions < decisions.filter(accepted=True).count() < month.decisions
    assert DecisionFact.objects.filter(ticket__source="demo-activity").count() == month.decisions
    assert not Ticket.objects.filter(source="demo-activity", status="new").exists()
    assert len(set(DecisionFact.objects.values_list("day", flat=True))) >= 6  # a week of days, not one
    assert len(retrains) == 2 and retrains == sorted(retrains)


def test_issue_token_prints_a_key_that_the_api_accepts_with_the_users_role(db: Any, categories: Any) -> None:
    feeder = User.objects.create_user("feeder")
    feeder.groups.add(Group.objects.get(name=roles.INTEGRATION))
    out = StringIO()
    call_command("issue_token", "feeder", "Zendesk webhook", stdout=out)
    key = out.getvalue().strip()
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/categories/").status_code == 200
    assert Client(HTTP_AUTHORIZATION=f"Token {key[:-1]}x").get("/api/categories/").status_code == 401
    with pytest.raises(CommandError, match="already has a live token"):
        call_command("issue_token", "feeder", "zendesk  webhook", stdout=StringIO())
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("issue_token", "ghost", "x", stdout=StringIO())


def test_drf_create_token_is_refused_with_the_command_that_works(db: Any) -> None:
    with pytest.raises(CommandError, match="issue_token USER NAME"):
        call_command("drf_create_token", "anyone")
