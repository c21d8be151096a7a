"""The command-line tools given awkward input: long or odd CSV rows, labels spelt many
ways, a feed pointed at the wrong server, a database too small to train on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DataError
from django.utils import timezone

from triage import services
from triage.management.commands import import_tickets
from triage.models import Category, ModelVersion, Ticket


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_csv(path: Path, rows: list[list[str]], header: str = "subject,text,label") -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header.split(","))
        writer.writerows(rows)
    return path


def run_import(path: Path, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "import_tickets",
        str(path),
        text_column="text",
        subject_column="subject",
        label_column="label",
        stdout=out,
        stderr=err,
        **options,
    )
    return out.getvalue(), err.getvalue()


# import_tickets: rows too long for the database


def test_import_skips_a_subject_longer_than_the_column_instead_of_crashing(
    db: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(import_tickets, "BATCH", 2)  # several batches, as in a big file
    rows = [[f"subject {i}", f"body {i}", "card_arrival"] for i in range(4)]
    rows.append(["s" * 501, "the last row", "card_arrival"])
    out, err = run_import(write_csv(tmp_path / "long.csv", rows))
    assert "4 tickets imported" in out and "1 rows skipped" in out
    assert "line 6: subject longer than 500 characters" in err
    assert Ticket.objects.count() == 4


def test_import_measures_lengths_as_stored_in_composed_form(db: Any, tmp_path: Path, settings: Any) -> None:
    settings.TICKET_BODY_MAX_CHARS = 10
    settings.TICKET_SUBJECT_MAX_CHARS = 10
    decomposed = "e\u0301" * 10  # 20 code points as typed, 10 once composed ("é")
    too_long = "\u0958" * 6  # 6 code points as typed, 12 once composed (a composition exclusion)
    rows = [[decomposed, decomposed, "a"], [too_long, "body", "a"], ["subject", too_long, "a"]]
    out, err = run_import(write_csv(tmp_path / "nfc.csv", rows))
    assert "1 tickets imported" in out
    assert "line 3: subject longer than 10 characters" in err and "line 4: text longer than 10 characters" in err
    assert Ticket.objects.get().subject == "\u00e9" * 10


def test_import_stores_nothing_when_a_later_batch_fails(db: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(import_tickets, "BATCH", 2)
    real_import, calls = import_tickets.tickets_import, []

    def failing_second_batch(*, rows: list[services.HistoryRow], source: str) -> int:
        calls.append(len(rows))
        if len(calls) == 2:
            raise DataError("value too long")  # the database refusing a row
        return real_import(rows=rows, source=source)

    monkeypatch.setattr(import_tickets, "tickets_import", failing_second_batch)
    rows = [[f"subject {i}", f"body {i}", f"label {i}"] for i in range(5)]
    with pytest.raises(DataError):
        run_import(write_csv(tmp_path / "h.csv", rows))
    assert not Ticket.objects.exists() and not Category.objects.exists()


# import_tickets: which category a label means


def test_import_puts_spellings_of_one_label_in_one_category(db: Any, tmp_path: Path) -> None:
    labels = ["card_arrival", "Card arrival", "CARD ARRIVAL", "card-arrival"]
    rows = [[f"s{i}", f"where is my card {i}", label] for i, label in enumerate(labels)]
    out, _ = run_import(write_csv(tmp_path / "spellings.csv", rows))
    assert "4 tickets imported" in out and "1 categories (1 new)" in out
    assert list(Category.objects.values_list("slug", "name")) == [("card_arrival", "Card arrival")]
    assert Ticket.objects.filter(category__slug="card_arrival").count() == 4


def test_import_puts_a_label_spelt_differently_in_the_existing_category(db: Any, tmp_path: Path) -> None:
    existing = Category.objects.create(slug="card-arrival", name="Card arrival")
    out, _ = run_import(write_csv(tmp_path / "again.csv", [["s", "still waiting for my card", "card_arrival"]]))
    assert "1 tickets imported" in out and "1 categories (0 new)" in out
    assert list(Category.objects.all()) == [existing]
    assert Ticket.objects.get().category == existing


def test_import_refuses_a_category_clash_and_stores_nothing(db: Any, tmp_path: Path, monkeypatch: Any) -> None:
    real_create = import_tickets.categories_create_bulk

    def taken_meanwhile(*, names: dict[str, str]) -> dict[str, Category]:
        # Someone adds a category of that name on the taxonomy page while the file is read.
        Category.objects.create(slug="taken", name=next(iter(names.values())))
        return real_create(names=names)

    monkeypatch.setattr(import_tickets, "categories_create_bulk", taken_meanwhile)
    with pytest.raises(CommandError, match="nothing was imported"):
        run_import(write_csv(tmp_path / "clash.csv", [["s", "body", "top_up"]]))
    assert not Ticket.objects.exists() and not Category.objects.exists()


def test_import_skips_labels_in_other_scripts_rather_than_lumping_them_together(db: Any, tmp_path: Path) -> None:
    rows = [["s1", "my card", "Карта"], ["s2", "a transfer", "Перевод"], ["s3", "a fee", "fee"], ["s4", "?", "???"]]
    out, err = run_import(write_csv(tmp_path / "scripts.csv", rows))
    assert "1 tickets imported" in out and "1 categories (1 new)" in out and "3 rows skipped" in out
    assert "line 2: label 'Карта' has no Latin letters" in err and "line 3: label 'Перевод'" in err
    assert "line 5: label '???' has no letters or digits" in err
    assert list(Category.objects.values_list("slug", flat=True)) == ["fee"]


def test_import_finds_a_category_named_in_another_script_but_no_other(db: Any, tmp_path: Path) -> None:
    card = Category.objects.create(slug="karta", name="Карта")
    rows = [["s1", "my card", "карта"], ["s2", "a transfer", "Перевод"]]
    out, err = run_import(write_csv(tmp_path / "scripts.csv", rows))
    assert "1 tickets imported" in out and "1 categories (0 new)" in out
    assert "line 3: label 'Перевод' has no Latin letters" in err
    assert Ticket.objects.get().category == card and Category.objects.count() == 1


def test_import_reads_labels_as_evaluate_does_and_follows_merges(db: Any, tmp_path: Path) -> None:
    survivor = Category.objects.create(slug="cash-and-atm", name="Cash and ATMs")
    Category.objects.create(slug="atm", name="ATM", is_active=False, merged_into=survivor)
    Category.objects.create(slug="cheques", name="Cheques", is_active=False)
    rows = [["s1", "atm ate my card", "atm"], ["s2", "cash please", "Cash and ATMs"], ["s3", "cheque", "cheques"]]
    out, err = run_import(write_csv(tmp_path / "merged.csv", rows))
    assert "2 tickets imported" in out and "1 categories (0 new)" in out and "1 rows skipped" in out
    assert "line 4: label 'cheques' names the retired category 'cheques'" in err
    assert Category.objects.count() == 3
    assert set(Ticket.objects.values_list("category", flat=True)) == {survivor.pk}


# feed_tickets: a server that says no, is down, or is not Assist


class _Answers(BaseHTTPRequestHandler):
    """Answers POST /<status>/api/tickets/ with that status; /html/ with a 200 web page;
    /ok/ with a stored ticket."""

    posts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.posts.append(self.path)
        kind = self.path.strip("/").split("/")[0]
        status = 200 if kind == "html" else 201 if kind == "ok" else int(kind)
        body = {"html": b"<html>a login page</html>", "ok": b'{"id": 1, "suggestion": null}'}.get(
            kind, b'{"detail": "no"}'
        )
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if kind == "html" else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub_server(monkeypatch: Any) -> Iterator[str]:
    """A local HTTP server that is not Assist; the feed's waits between tries are skipped."""
    from triage.management.commands import feed_tickets

    monkeypatch.setattr(feed_tickets.time, "sleep", lambda seconds: None)
    _Answers.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def feed(url: str, **options: Any) -> None:
    call_command("feed_tickets", url=url, token="t0ken", stdout=StringIO(), stderr=StringIO(), **options)


@pytest.mark.parametrize(
    ("status", "problem"), [(401, "token was refused"), (403, "may not post tickets"), (404, "is --url the Assist")]
)
def test_feed_stops_at_once_when_the_server_refuses_it(stub_server: str, status: int, problem: str) -> None:
    with pytest.raises(CommandError, match=problem):
        feed(f"{stub_server}/{status}", rate=50, count=3)
    assert len(_Answers.posts) == 1


def test_feed_stops_after_repeated_server_errors(stub_server: str) -> None:
    with pytest.raises(CommandError, match="5 posts in a row failed"):
        feed(f"{stub_server}/500", rate=50, count=3)
    assert len(_Answers.posts) == 5


def test_an_endless_feed_keeps_trying_while_the_server_is_down(stub_server: str, monkeypatch: Any) -> None:
    from triage.management.commands import feed_tickets

    waits: list[float] = []

    class Enough(Exception):
        pass

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 12:
            raise Enough  # no CommandError in 12 failures: it would go on

    monkeypatch.setattr(feed_tickets.time, "sleep", sleep)
    with pytest.raises(Enough):
        feed(f"http://127.0.0.1:{closed_port()}", rate=50, count=0)
    assert waits[:5] == [2, 4, 8, 16, 30] and max(waits) == 30


def test_feed_counts_an_answer_that_is_not_a_ticket_as_a_failure(stub_server: str) -> None:
    with pytest.raises(CommandError, match=r"not with a ticket.*text/html"):
        feed(f"{stub_server}/html", rate=50, count=3)
    assert len(_Answers.posts) == 5


def test_feed_stops_when_the_server_is_down(stub_server: str) -> None:
    with pytest.raises(CommandError, match=r"5 posts in a row failed.*unreachable"):
        feed(f"http://127.0.0.1:{closed_port()}", rate=50, count=3)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"rate": float("nan")}, "--rate must be a positive number"),
        ({"rate": float("inf")}, "--rate must be a positive number"),
        ({"rate": 0.0}, "--rate must be a positive number"),
        ({"count": -1}, "--count must be 0"),
    ],
)
def test_feed_refuses_a_rate_or_count_that_makes_no_sense(
    stub_server: str, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(CommandError, match=problem):
        feed(f"{stub_server}/201", **{"rate": 1.0, "count": 1, **options})
    assert not _Answers.posts


# prepare and train


def test_prepare_goes_on_without_a_model_when_too_few_tickets_are_confirmed(
    categories: dict[str, Category], tmp_path: Path, monkeypatch: Any
) -> None:
    from triage.management.commands import prepare

    monkeypatch.setattr(prepare, "LOGINS_FILE", tmp_path / "logins.txt")
    start = timezone.now() - timedelta(days=1)
    rows = [
        services.HistoryRow(
            external_id=f"few-{i}",
            subject="card",
            body=f"where is my card {i}",
            category=categories["card-delivery"] if i < 3 else None,
            received_at=start + timedelta(minutes=i),
        )
        for i in range(6)
    ]
    services.tickets_import(rows=rows, source="few")
    out = StringIO()
    call_command("prepare", stdout=out)
    assert 'will show "No suggestion"' in out.getvalue() and "need at least 10 in 2" in out.getvalue()
    assert "Prepared. Starting the web server" in out.getvalue()
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ("[1]", "must be a JSON object"),
        ('"C"', "must be a JSON object"),
        ('{"word_ngram": 5}', "word_ngram=5"),
        ('{"nothing": 1}', "Unknown pipeline params"),
    ],
)
def test_train_refuses_params_that_are_not_an_object_of_known_values(
    history: list[Ticket], params: str, problem: str
) -> None:
    with pytest.raises(CommandError, match=problem):
        call_command("train", params=params, stdout=StringIO())
    assert not ModelVersion.objects.exists()


def test_import_refuses_a_source_longer_than_the_column(tmp_path: Any, db: Any) -> None:
    path = tmp_path / "history.csv"
    path.write_text("text,category\nmy card is lost,lost\n", encoding="utf-8")
    with pytest.raises(CommandError, match="--source must be at most 64 characters"):
        call_command("import_tickets", str(path), text_column="text", label_column="category", source="s" * 80)


def test_a_tiny_rate_waits_an_hour_at_most(stub_server: str, monkeypatch: Any) -> None:
    from triage.management.commands import feed_tickets

    waits: list[float] = []
    monkeypatch.setattr(feed_tickets.time, "sleep", waits.append)
    feed(f"{stub_server}/ok", rate=1e-300, count=2)
    assert waits and max(waits) <= 3600.0


def test_import_lowers_any_number_of_new_category_names_as_the_database_does(db: Any) -> None:
    # One statement holds at most ~1,600 columns: a file with more labels than that is
    # read in chunks, in order.
    names = [f"Label {i} ÉTÉ" for i in range(2100)]
    lowered = import_tickets._db_lower(names)
    assert len(lowered) == 2100 and lowered[0].startswith("label 0 ") and lowered[-1].startswith("label 2099 ")


def test_import_creates_thousands_of_new_categories_in_a_few_statements(
    db: Any, tmp_path: Path, django_assert_max_num_queries: Any
) -> None:
    rows = [[f"s{i}", f"text number {i}", f"label_{i:05d}"] for i in range(3000)]
    path = write_csv(tmp_path / "many.csv", rows)
    with django_assert_max_num_queries(250):  # batched: was a get-or-create (and its savepoint) a new label
        out, _ = run_import(path)
    assert "3000 tickets imported" in out and "3000 categories (3000 new)" in out
    assert Category.objects.count() == 3000
    assert Category.objects.get(slug="label_01234").name == "Label 01234"
