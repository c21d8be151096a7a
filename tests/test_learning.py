"""Continuous learning, in-process: the lock, the gate, promotion and rollback,
the reaper, the decision trigger, the blind slice, shadow runs and the cache.
tests/test_worker.py drives the same path through a real Celery worker."""

from __future__ import annotations

import html
import re
import socket
import subprocess
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command
from django.template.defaultfilters import floatformat
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from assist.celery import app as celery_app
from triage import services, serving, tasks
from triage.consumers import CLOSE_FORBIDDEN
from triage.learning import selectors
from triage.learning.consumers import ModelsConsumer
from triage.learning.gate import gate_verdict
from triage.learning.promotion import PromotionError, model_promote, model_shadow_set
from triage.learning.services import (
    RUN_TASKS,
    RetrainRunningError,
    retrain_request,
    training_run_claim,
    training_run_execute,
    training_runs_reap,
)
from triage.learning.training import train_model
from triage.learning.triggers import retrain_if_due
from triage.learning.tuning import TRIAL_TASK
from triage.models import Category, ModelPromotion, ModelVersion, Prediction, Ticket, TrainingRun
from triage.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parent.parent
CRIPPLED = {"word_weight": 0.0, "char_ngram": (1, 1), "C": 1e-4}


def _manual(**kwargs: Any) -> TrainingRun:
    return retrain_request(trigger=TrainingRun.Trigger.MANUAL, reason="test", enqueue=False, **kwargs)


def test_a_second_retrain_request_is_told_which_run_holds_the_lock(db: Any) -> None:
    first = _manual()
    with pytest.raises(RetrainRunningError) as refused:
        _manual()
    assert refused.value.run.pk == first.pk
    assert TrainingRun.objects.count() == 1


def test_a_failed_run_frees_the_lock_for_the_next_trigger(history: Any) -> None:
    run = _manual(params={"C": -1.0})  # an invalid regularisation: the fit raises
    with pytest.raises(ValueError):
        training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "C" in run.error
    assert not ModelVersion.objects.exists()
    assert _manual().status == "queued"


def test_a_run_trains_on_confirmed_tickets_and_the_gate_promotes_it(history: Any, supervisor: Any) -> None:
    requested = retrain_request(trigger=TrainingRun.Trigger.MANUAL, user=supervisor, enqueue=False)
    run = training_run_execute(run_id=requested.pk)
    assert run is not None and run.status == "succeeded" and run.progress == 1.0
    version = run.model_version
    assert version is not None and version.status == "active"
    # Confirmed tickets only: the unconfirmed one in `history` is not counted.
    assert version.training_rows == 300
    holdout = version.metrics["holdout"]
    assert holdout["rows"] == 60 and 0.0 <= holdout["ece"] <= 1.0
    assert sum(map(sum, holdout["confusion"]["matrix"])) == 60
    assert set(holdout["per_category"]) <= set(holdout["confusion"]["labels"])
    # First choice, top three, and with "needs a human" counted as a miss, on the models page.
    assert holdout["accuracy_with_abstention"] <= holdout["accuracy"] <= holdout["top3_accuracy"] <= 1.0
    client = Client()
    client.force_login(supervisor)
    row = client.get("/models/").content.decode().split(f'id="version-{version.version}"')[1].split("</tr>")[0]
    figures = (holdout["accuracy"], holdout["top3_accuracy"], holdout["accuracy_with_abstention"])
    assert " · ".join(f"{x:.3f}" for x in figures) in row
    promotion = ModelPromotion.objects.get()
    assert promotion.action == "gate" and promotion.version == version and promotion.previous is None
    assert serving.active_model() is not None and serving.active_model().version == version.version


def test_a_versions_page_says_when_it_holds_a_ticket_back(history: Any, supervisor: Any, settings: Any) -> None:
    settings.MODEL_ENCODER = ""  # the core stack (ASSIST_MODEL_ENCODER=none): no similarity check
    version = train_model().version
    limits = version.metrics["holdout"]["abstention"]
    client = Client()
    client.force_login(supervisor)
    page = client.get(f"/models/v{version.version}/").content.decode()
    assert f"confidence under {floatformat(limits['min_confidence'], 3)}" in page
    assert "less like any training ticket" not in page  # no encoder, no similarity check
    slug, scores = sorted(version.metrics["holdout"]["per_category"].items())[0]
    f1 = floatformat(scores["f1-score"], 3)
    assert re.search(rf"<td>{slug}</td><td>[0-9.]+</td><td>[0-9.]+</td><td>{re.escape(f1)}</td>", page), slug
    version.metrics["holdout"]["abstention"]["min_similarity"] = 0.7284
    version.save(update_fields=["metrics"])
    assert (
        "less like any training ticket than 0.728 (cosine)"
        in client.get(f"/models/v{version.version}/").content.decode()
    )


def test_a_worse_candidate_is_rejected_with_the_reason_and_the_live_model_stays(history: Any) -> None:
    live = train_model().version
    run = training_run_execute(run_id=_manual(params=CRIPPLED).pk)
    assert run is not None and run.status == "succeeded"
    candidate = run.model_version
    assert candidate is not None and candidate.status == "rejected"
    assert "rejected by the gate" in candidate.notes and "recall fell" in candidate.notes
    assert candidate.metrics["gate"]["recall_drops"]
    live.refresh_from_db()
    assert live.status == "active"


def test_the_gate_flags_a_category_whose_recall_falls_even_when_macro_f1_holds() -> None:
    live = {
        "macro_f1": 0.80,
        "per_category": {"fraud": {"recall": 0.9, "support": 20}, "fees": {"recall": 0.6, "support": 20}},
    }
    candidate = {
        "macro_f1": 0.81,
        "per_category": {"fraud": {"recall": 0.7, "support": 20}, "fees": {"recall": 0.9, "support": 20}},
    }
    verdict = gate_verdict(candidate, live, max_macro_f1_drop=0.005, max_recall_drop=0.1)
    assert not verdict.passed
    assert verdict.recall_drops == {"fraud": (0.9, 0.7)}
    relaxed = gate_verdict(candidate, live, max_macro_f1_drop=0.005, max_recall_drop=0.25)
    assert relaxed.passed


def test_the_gate_refuses_a_macro_f1_drop_beyond_the_margin() -> None:
    verdict = gate_verdict({"macro_f1": 0.70}, {"macro_f1": 0.75}, max_macro_f1_drop=0.01, max_recall_drop=1.0)
    assert not verdict.passed and "below the live model" in verdict.summary


def test_the_word_pairs_setting_trains_models_with_the_pair_block(history: Any, settings: Any) -> None:
    settings.MODEL_WORD_PAIRS = 4
    version = train_model().version
    assert version.params["features__pairs__pairs__window"] == 4
    suggestion = serving.active_model().suggester.suggest("Card", "my card has still not arrived at home")
    assert suggestion.label
    settings.MODEL_WORD_PAIRS = 0
    assert "features__pairs__pairs__window" not in train_model().version.params


def test_promote_rolls_back_to_an_earlier_version_and_serving_follows(history: Any, supervisor: Any) -> None:
    first = train_model().version
    second = train_model().version
    assert serving.active_model().version == second.version
    model_promote(version=first, user=supervisor, reason="v2 misroutes fraud")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("active", "retired")
    rollback = ModelPromotion.objects.filter(version=first).latest("created_at")
    assert rollback.action == "rollback" and rollback.user == supervisor and rollback.previous == second
    assert serving.active_model().version == first.version


def test_the_promote_command_names_a_missing_version_and_promotes_an_existing_one(history: Any) -> None:
    first = train_model().version
    train_model()
    with pytest.raises(CommandError, match="no model v99"):
        call_command("promote", "99")
    out = StringIO()
    call_command("promote", str(first.version), stdout=out)
    assert "is live" in out.getvalue()
    assert ModelVersion.objects.get(status="active") == first


def test_a_tampered_artifact_is_refused_at_promotion_and_the_live_model_keeps_serving(
    history: Any, supervisor: Any
) -> None:
    first = train_model().version
    second = train_model().version
    with first.artifact.open("rb") as fh:
        data = bytearray(fh.read())
    data[len(data) // 2] ^= 0xFF
    with open(first.artifact.path, "wb") as fh:
        fh.write(bytes(data))
    with pytest.raises(PromotionError, match="SHA-256"):
        model_promote(version=first, user=supervisor)
    second.refresh_from_db()
    assert second.status == "active"
    assert serving.active_model().version == second.version


def test_the_reaper_fails_a_run_whose_worker_stopped_beating(db: Any) -> None:
    run = _manual()
    assert training_run_claim(run_id=run.pk) is not None
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    fresh = retrain_request(trigger=TrainingRun.Trigger.MANUAL, kind=TrainingRun.Kind.TUNE, enqueue=False)
    training_run_claim(run_id=fresh.pk)
    assert training_runs_reap(stale_seconds=180) == 1
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.status == "failed" and "worker was lost" in run.error
    assert fresh.status == "running"


def test_a_redelivered_run_is_failed_when_its_worker_is_gone_and_never_trained_twice(db: Any) -> None:
    run = _manual()
    assert training_run_claim(run_id=run.pk) is not None
    # Delivered again while the claiming process (this one) is alive and beating: ignored.
    assert training_run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == "running"
    # The claiming process died; late acknowledgement hands the message to another worker.
    TrainingRun.objects.filter(pk=run.pk).update(worker=f"{socket.gethostname()}:{_dead_pid()}")
    assert training_run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == "failed" and "lost" in run.error
    assert not ModelVersion.objects.exists()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_enough_new_decisions_queue_a_retrain_once(live_model: Any, agent: Any, settings: Any) -> None:
    settings.RETRAIN_AFTER_DECISIONS = 3
    tickets = [services.ticket_ingest(subject="card", body=f"my card is lost {i}").ticket for i in range(4)]
    category = Category.objects.get(slug="lost-or-stolen-card")
    for ticket in tickets[:2]:
        services.ticket_triage(ticket=ticket, agent=agent, category=category)
    assert retrain_if_due() is None
    services.ticket_triage(ticket=tickets[2], agent=agent, category=category)
    run = retrain_if_due()
    assert run is not None and run.trigger == "decisions"
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    # Counted from the last request: one more decision is not enough.
    services.ticket_triage(ticket=tickets[3], agent=agent, category=category)
    assert retrain_if_due() is None


def test_blind_slice_tickets_are_stored_with_a_prediction_but_shown_without_one(
    live_model: Any, ingest_client: Any, settings: Any
) -> None:
    settings.BLIND_SHARE = 1.0
    response = ingest_client.post("/api/tickets/", {"subject": "Lost card", "body": "I lost my card"}, format="json")
    assert response.status_code == 201
    assert response.json()["blind"] is True and response.json()["suggestion"] is None
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.blind and ticket.live_prediction is not None


def test_a_shadow_version_predicts_every_ticket_unseen_and_is_compared_on_decisions(
    history: Any, agent: Any, ingest_client: Any
) -> None:
    train_model()
    candidate = train_model(activate="never").version
    model_shadow_set(version=candidate, on=True)
    response = ingest_client.post(
        "/api/tickets/", {"subject": "Card stolen", "body": "my card was stolen"}, format="json"
    )
    ticket = Ticket.objects.get(pk=response.json()["id"])
    shadow = Prediction.objects.get(ticket=ticket, is_live=False)
    assert shadow.model_version == candidate
    assert response.json()["suggestion"]["model_version"] != candidate.version
    assert selectors.shadow_comparison(candidate).tickets == 0  # nothing decided yet
    services.ticket_triage(ticket=ticket, agent=agent, category=shadow.suggested)
    comparison = selectors.shadow_comparison(candidate)
    assert comparison.tickets == 1 and comparison.shadow_right == 1
    assert selectors.shadow_scored_count(candidate) == 1


def test_promotion_waits_for_enough_shadow_scored_tickets(history: Any, supervisor: Any, settings: Any) -> None:
    settings.PROMOTION_MIN_SHADOW_TICKETS = 5
    train_model()
    outcome = train_model(activate="gate")
    assert not outcome.activated and outcome.version.shadow_since is not None
    assert "in shadow until 5" in outcome.reason
    with pytest.raises(PromotionError, match="needs 5"):
        model_promote(version=outcome.version, user=supervisor)
    # One shadow at a time: the next gated model takes its place.
    following = train_model(activate="gate")
    assert list(ModelVersion.objects.filter(shadow_since__isnull=False)) == [following.version]


def test_mcnemar_uses_the_exact_binomial_on_few_disagreements() -> None:
    assert selectors.mcnemar_p_value(0, 6) == pytest.approx(2 * 0.5**6)
    assert selectors.mcnemar_p_value(0, 0) is None
    assert selectors.mcnemar_p_value(40, 10) == pytest.approx(4.11e-05, rel=0.01)


def test_repeated_messages_come_from_the_cache_and_a_new_version_empties_it(history: Any) -> None:
    train_model()
    for body in ["My card has NOT arrived yet", "My  card has NOT\narrived yet ", "My card has NOT arrived yet"]:
        services.ticket_ingest(subject="Card", body=body)
    assert serving.cache_stats()["hits"] == 2 and serving.cache_stats()["misses"] == 1
    train_model()
    services.ticket_ingest(subject="Card", body="My card has NOT arrived yet")
    assert serving.cache_stats() == {"entries": 1, "hits": 0, "misses": 1, "hit_rate": 0.0}


def test_the_models_page_shows_the_cache_hit_rate(live_model: Any, supervisor: Any) -> None:
    client = Client()
    client.force_login(supervisor)
    services.ticket_ingest(subject="Card", body="My card has not arrived")
    assert "hit rate 0% (0 hits, 1 misses)" in client.get("/models/").content.decode()
    services.ticket_ingest(subject="Card", body="My card has not arrived")
    assert "hit rate 50% (1 hits, 1 misses)" in client.get("/models/").content.decode()


def test_each_prediction_says_whether_the_cache_answered_and_the_page_sums_every_process(
    live_model: Any, supervisor: Any
) -> None:
    first = services.ticket_ingest(subject="Card", body="My card has not arrived").prediction
    again = services.ticket_ingest(subject="Card", body="My card has  not arrived").prediction
    other = services.ticket_ingest(subject="Fee", body="Why was I charged a fee?").prediction
    assert first is not None and again is not None and other is not None
    assert [first.cached, again.cached, other.cached] == [False, True, False]
    assert Prediction.objects.get(pk=again.pk).cached  # stored, not only on the object
    # Another serving process answered three more from its own cache: the page counts
    # them too, which this process's own counters can't.
    for _ in range(3):
        ticket = Ticket.objects.create(subject="Card", body="My card has not arrived", received_at=timezone.now())
        Prediction.objects.create(
            ticket=ticket, model_version=live_model, suggested=first.suggested, confidence=0.9, cached=True
        )
    client = Client()
    client.force_login(supervisor)
    page = client.get("/models/").content.decode()
    assert f"67% of v{live_model.version}'s 6 suggestions in the last 7 days came from the cache (4)" in page


def test_the_cache_keeps_apart_tickets_the_model_tells_apart(history: Any, settings: Any) -> None:
    # Another split between subject and body is another ticket (the subject weighs
    # double), and so is another case (reasons quote the ticket's own words). The core
    # stack: its suggestion rests on the words alone, so the reasons are sure to be there.
    settings.MODEL_ENCODER = ""
    train_model()
    services.ticket_ingest(subject="Refund please", body="my card has not arrived")
    merged = services.ticket_ingest(subject="", body="Refund please my card has not arrived").prediction
    shouted = services.ticket_ingest(subject="REFUND PLEASE", body="MY CARD HAS NOT ARRIVED").prediction
    assert serving.cache_stats()["hits"] == 0 and serving.cache_stats()["misses"] == 3
    model = serving.active_model()
    assert model is not None and merged is not None and shouted is not None
    alone = model.suggester.suggest("", "Refund please my card has not arrived")
    assert merged.confidence == pytest.approx(alone.confidence)
    assert shouted.reasons and all(r["term"] in "REFUND PLEASE MY CARD HAS NOT ARRIVED" for r in shouted.reasons)


def test_tuning_scores_every_combination_and_the_next_training_uses_the_best(
    history: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Django-namespaced Celery settings are read under their Django name.
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = retrain_request(
                trigger=TrainingRun.Trigger.MANUAL, kind=TrainingRun.Kind.TUNE, params={"grid": {"C": [1e-4, 1.0]}}
            )
    finally:
        celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    run.refresh_from_db()
    assert run.status == "succeeded"
    trials = run.results["trials"]
    assert [t["params"] for t in trials] == [{"C": 1e-4}, {"C": 1.0}]
    assert all(t["status"] == "done" and 0 <= t["macro_f1"] <= 1 for t in trials)
    assert run.results["best"]["params"] == {"C": 1.0}
    trained = training_run_execute(run_id=_manual().pk)
    assert trained is not None and trained.model_version is not None
    assert trained.model_version.params["config"]["C"] == 1.0


@pytest.mark.parametrize(("role", "status"), [("agent", 403), ("supervisor", 200), ("admin_user", 200)])
def test_the_models_page_is_for_supervisors_and_admins(role: str, status: int, request: Any, db: Any) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(role))
    assert client.get("/models/").status_code == status
    assert client.post("/models/retrain/").status_code == (403 if status == 403 else 302)


def test_the_retrain_button_says_when_one_is_already_running(supervisor: Any) -> None:
    client = Client()
    client.force_login(supervisor)
    client.post("/models/retrain/")
    page = client.post("/models/retrain/", follow=True)
    assert "Not started" in page.content.decode() and "already queued" in page.content.decode()
    assert TrainingRun.objects.count() == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_models_socket_refuses_an_agent_and_accepts_a_supervisor(agent: Any, supervisor: Any) -> None:
    for user, allowed in [(agent, False), (supervisor, True)]:
        communicator = WebsocketCommunicator(ModelsConsumer.as_asgi(), "/ws/models/")
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        assert connected  # a refusal comes after the handshake, so the browser sees its code
        if allowed:
            assert await communicator.receive_nothing(timeout=0.2)
            await communicator.disconnect()
        else:
            assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}


def test_a_broker_outage_fails_the_request_visibly_and_frees_the_lock(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refused = OperationalError("[Errno 111] Connection refused")
    with (
        mock.patch.object(tasks.run_training, "apply_async", autospec=True, side_effect=refused),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = retrain_request(trigger=TrainingRun.Trigger.SCHEDULE)
    run.refresh_from_db()
    assert run.status == "failed" and "could not reach the task broker" in run.error
    assert _manual().status == "queued"


def test_the_version_page_shows_the_gate_verdict_and_the_most_confused_pairs(history: Any, supervisor: Any) -> None:
    version = train_model(activate="gate").version
    client = Client()
    client.force_login(supervisor)
    page = client.get(f"/models/v{version.version}/").content.decode()
    assert "no live model scored on this holdout" in page
    matrix = version.metrics["holdout"]["confusion"]
    mistakes = sum(c for i, row in enumerate(matrix["matrix"]) for j, c in enumerate(row) if i != j)
    assert ("No mistakes" in page) == (mistakes == 0)


@pytest.mark.parametrize(
    ("subject", "body", "language"),
    [
        ("Tarjeta perdida", "He perdido mi tarjeta en el autobús, por favor bloquéenla", "es"),
        ("Carte volée", "On m'a volé ma carte bancaire hier soir, pouvez-vous la bloquer ?", "fr"),
        ("Karte gestohlen", "Meine Karte wurde gestern gestohlen, bitte sperren Sie sie sofort", "de"),
        ("Card stolen", "My card was stolen yesterday evening, please block it right away", "en"),
    ],
)
def test_the_ticket_language_is_detected_and_stored(
    live_model: Any, ingest_client: Any, subject: str, body: str, language: str
) -> None:
    response = ingest_client.post("/api/tickets/", {"subject": subject, "body": body}, format="json")
    assert response.status_code == 201 and response.json()["language"] == language
    assert Ticket.objects.get(pk=response.json()["id"]).language == language


def _scores(accuracy: float, macro_f1: float, rows: int, **extra: Any) -> dict[str, Any]:
    return {"accuracy": accuracy, "macro_f1": macro_f1, "rows": rows, "ece": 0.03, "auto_triage_share": 0.8, **extra}


def _row_cells(page: str, version: int) -> list[str]:
    """The text of each cell of the versions table's row for `version`."""
    row = next(r for r in page.split("<tr")[1:] if f'href="/models/v{version}/"' in r)
    return [
        html.unescape(re.sub(r"<[^>]+>|\s+", " ", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.split("</tr>")[0], re.S)
    ]


def test_the_models_page_compares_versions_on_the_same_tickets_before_their_own_holdouts(supervisor: Any) -> None:
    # v1 scored 0.965 on its own holdout, v2 0.941 on a later, harder one: side by side
    # those say nothing. The gate scored v2 and v1 on the same 240 tickets: v2 wins there.
    basis = "the 240 held-out tickets newer than the live model's training data"
    ModelVersion.objects.create(
        version=1,
        status=ModelVersion.Status.RETIRED,
        artifact="models/v1.skops",
        sha256="-",
        hmac="-",
        metrics={"holdout": _scores(0.965, 0.961, 200), "candidate_on_comparison": _scores(0.965, 0.961, 200)},
    )
    ModelVersion.objects.create(
        version=2,
        status=ModelVersion.Status.ACTIVE,
        artifact="models/v2.skops",
        sha256="-",
        hmac="-",
        metrics={
            "holdout": _scores(0.941, 0.937, 300),
            "candidate_on_comparison": _scores(0.952, 0.948, 240, basis=basis),
            "active_on_same_holdout": _scores(0.921, 0.915, 240, basis=basis, version=1),
        },
    )
    client = Client()
    client.force_login(supervisor)
    page = client.get("/models/").content.decode()
    cells = _row_cells(page, 2)
    same = next(i for i, cell in enumerate(cells) if "0.948" in cell)  # v2 on the same tickets as v1
    assert "0.952" in cells[same] and "v1" in cells[same + 1] and "0.915" in cells[same + 1]
    assert "240" in cells[same + 2] and basis in cells[same + 2]
    assert same < cells.index("0.941")  # the same-ticket comparison comes before its own holdout
    head = page[page.index("<thead>", page.index('<table class="grid versions">')) :][:2000]
    assert head.index("Same tickets as the model live then") < head.index("On its own most recent held-out tickets")
    # The first version was never compared: it says so instead of showing figures there.
    first = _row_cells(page, 1)
    assert any("not compared" in cell for cell in first) and "0.965" in first
    detail = client.get("/models/v2/").content.decode()
    assert detail.index("on the same 240 tickets") < detail.index("On its own 300 most recent held-out tickets")
    assert "0.948" in detail and "0.915" in detail


def test_every_task_a_service_sends_by_name_is_a_registered_celery_task() -> None:
    names = [*RUN_TASKS.values(), TRIAL_TASK, *(entry.task for entry in SCHEDULES)]
    celery_app.loader.import_default_modules()  # what a worker imports at start (autodiscovery)
    registered = set(celery_app.tasks)
    assert [name for name in names if name not in registered] == []


def test_new_models_use_the_encoder_stack_by_default_and_the_page_says_which_stack(
    history: Any, supervisor: Any, settings: Any
) -> None:
    assert settings.MODEL_ENCODER == "minilm-int8"  # no ASSIST_MODEL_ENCODER in the environment
    encoder = train_model().version
    settings.MODEL_ENCODER = ""  # ASSIST_MODEL_ENCODER=none: the core stack
    core = train_model(activate="always").version
    assert encoder.params["features__encoder__encoder"] == "minilm-int8"
    assert "features__encoder__encoder" not in core.params
    client = Client()
    client.force_login(supervisor)
    page = client.get("/models/").content.decode()
    assert "encoder minilm-int8" in page.split(f'id="version-{encoder.version}"')[1].split("</tr>")[0]
    assert "core stack" in page.split(f'id="version-{core.version}"')[1].split("</tr>")[0]
    # The version trained before keeps serving as it was trained until another is live.
    assert serving.active_model() is not None and serving.active_model().version == core.version


def test_a_process_asked_for_an_encoder_it_cannot_load_fails_its_system_check(settings: Any) -> None:
    from django.core.management.base import SystemCheckError

    from triage.ml.encoder import EncoderUnavailableError

    settings.MODEL_ENCODER = "minilm-int8"
    missing = EncoderUnavailableError("Encoder 'minilm-int8' needs optional packages (onnxruntime is missing)")
    with (
        mock.patch("triage.ml.encoder.encoder_model_dir", autospec=True, side_effect=missing),
        pytest.raises(SystemCheckError, match=r"assist.E004.*onnxruntime is missing"),
    ):
        call_command("check")
    settings.MODEL_ENCODER = ""
    call_command("check")  # the core stack needs no encoder
