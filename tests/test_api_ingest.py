"""POST /api/tickets/: store, classify, answer; refuse bad input and store nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from tests.conftest import client_for
from triage import serving
from triage.api.serializers import TicketIn
from triage.ml.language import detect_prefix
from triage.models import Prediction, Ticket

URL = "/api/tickets/"


def post(client: APIClient, payload: Any, **kwargs: Any) -> Any:
    return client.post(URL, payload, format="json", **kwargs)


def test_it_stores_and_classifies_a_ticket_in_the_same_request(ingest_client: APIClient, live_model: Any) -> None:
    response = post(
        ingest_client,
        {
            "external_id": "zd-1",
            "source": "zendesk",
            "subject": "Card stolen",
            "body": "My wallet was stolen on the train with my card inside, please block it",
            "channel": "chat",
            "customer_ref": "CUST-1",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.status == "new" and ticket.channel == "chat" and ticket.source == "zendesk"
    suggestion = body["suggestion"]
    assert suggestion["category"] == "lost-or-stolen-card"
    assert 0.0 < suggestion["confidence"] <= 1.0
    assert suggestion["model_version"] == live_model.version
    assert len(suggestion["alternatives"]) == 3
    assert all(alt["category"] != suggestion["category"] for alt in suggestion["alternatives"])
    text = (ticket.subject + " " + ticket.body).lower()
    assert suggestion["reasons"] and all(r["term"].lower() in text for r in suggestion["reasons"])
    prediction = Prediction.objects.get(ticket=ticket)
    assert prediction.suggested.slug == "lost-or-stolen-card" and prediction.model_version == live_model


def test_a_ticket_is_language_detected_once_for_storage_and_the_model(
    ingest_client: APIClient, live_model: Any
) -> None:
    assert serving.active_model() is not None  # loaded, and its detector warmed up
    detect_prefix.cache_clear()
    response = post(
        ingest_client, {"subject": "Tarjeta robada", "body": "Me robaron la tarjeta en el metro, bloqueenla"}
    )
    assert response.status_code == 201 and response.json()["language"] == "es"
    calls = detect_prefix.cache_info()
    # The ticket's stored language and the model's stemmer asked about the same text:
    # one detection, the second answer from the memo.
    assert calls.misses == 1 and calls.hits >= 1


def test_without_a_model_tickets_still_arrive_marked_no_suggestion(ingest_client: APIClient) -> None:
    response = post(ingest_client, {"subject": "Hello", "body": "My card is not working"})
    assert response.status_code == 201
    assert response.json()["suggestion"] is None
    assert Ticket.objects.count() == 1 and Prediction.objects.count() == 0


def test_posting_the_same_external_id_again_returns_the_existing_ticket(
    ingest_client: APIClient, live_model: Any
) -> None:
    first = post(ingest_client, {"external_id": "e-1", "body": "I lost my card"})
    again = post(ingest_client, {"external_id": "e-1", "body": "a different text this time"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["body"] == "I lost my card"
    assert Ticket.objects.count() == 1 and Prediction.objects.count() == 1


def test_the_same_external_id_from_another_source_is_another_ticket(ingest_client: APIClient) -> None:
    assert post(ingest_client, {"source": "a", "external_id": "1", "body": "x"}).status_code == 201
    assert post(ingest_client, {"source": "b", "external_id": "1", "body": "x"}).status_code == 201
    assert Ticket.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_racing_posts_of_one_external_id_store_one_ticket(integration: Any, live_model: Any) -> None:
    results: list[int] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        client = client_for(integration)
        barrier.wait()
        try:
            results.append(post(client, {"external_id": "race-1", "body": "I lost my card"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 5 + [201]
    assert Ticket.objects.filter(external_id="race-1").count() == 1
    assert Prediction.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "subject"),
        ({"subject": "", "body": "   "}, "body"),
        ({"subject": 12, "body": "x"}, "subject"),
        ({"body": ["not", "text"]}, "body"),
        ({"body": True}, "body"),
        ({"body": "x", "channel": "carrier-pigeon"}, "channel"),
        ({"body": "x", "channel": 3}, "channel"),
        ({"body": "x", "external_id": 99}, "external_id"),
        ({"body": "x", "received_at": "yesterday-ish"}, "received_at"),
        ({"body": "nul\x00byte"}, "body"),
        ({"subject": "nul\x00", "body": "x"}, "subject"),
        ({"body": "x", "customer_ref": "c\x00"}, "customer_ref"),
        ({"body": "x", "external_id": "e" * 201}, "external_id"),
        ({"subject": None, "body": "x"}, "subject"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    ingest_client: APIClient, live_model: Any, payload: dict[str, Any], field: str
) -> None:
    response = post(ingest_client, payload)
    assert response.status_code == 400
    assert field in response.json()
    assert Ticket.objects.count() == 0 and Prediction.objects.count() == 0


def test_each_validation_has_its_own_fields_so_nothing_carries_over_to_the_next() -> None:
    # The ingest serializer copies its declared fields shallowly (cheaper than DRF's deep copy).
    first = TicketIn(data={"subject": "x" * 600, "body": "y"})
    assert not first.is_valid() and "subject" in first.errors
    first.fields["body"].validators.append(lambda value: (_ for _ in ()).throw(ValidationError("no")))
    second = TicketIn(data={"subject": "Card lost", "body": "Please block it"})
    assert second.is_valid(), second.errors
    assert second.validated_data["body"] == "Please block it"
    assert second.fields["body"] is not first.fields["body"]
    assert second.fields["body"].parent is second and first.fields["body"].parent is first
    assert second.fields["received_at"].label == "Received at"
    # The declared fields themselves stay unbound and untouched.
    declared = TicketIn._declared_fields["body"]
    assert declared.field_name is None and len(declared.validators) == len(second.fields["body"].validators)


def test_a_body_over_the_configured_limit_is_refused(ingest_client: APIClient, settings: Any) -> None:
    settings.TICKET_BODY_MAX_CHARS = 100
    assert post(ingest_client, {"body": "a" * 100}).status_code == 201
    response = post(ingest_client, {"body": "a" * 101})
    assert response.status_code == 400
    assert "100 characters" in response.json()["body"][0]
    assert Ticket.objects.count() == 1


def test_a_subject_that_composition_lengthens_past_the_limit_is_a_400_not_a_500(ingest_client: APIClient) -> None:
    # U+FB2C is one character that Unicode's composed form (NFC, as stored) makes three.
    assert post(ingest_client, {"subject": "\ufb2c" * 166, "body": "x"}).status_code == 201  # 498 stored
    response = post(ingest_client, {"subject": "\ufb2c" * 200, "body": "x"})  # 600 stored: over 500
    assert response.status_code == 400
    assert "500 characters" in response.json()["subject"][0]
    assert Ticket.objects.count() == 1


def test_a_subject_limit_set_above_the_column_is_held_to_the_column(ingest_client: APIClient, settings: Any) -> None:
    settings.TICKET_SUBJECT_MAX_CHARS = 600  # the column holds 500
    response = post(ingest_client, {"subject": "s" * 550, "body": "x"})
    assert response.status_code == 400 and "500 characters" in response.json()["subject"][0]
    assert Ticket.objects.count() == 0


def test_the_default_body_limit_is_twenty_thousand_characters(ingest_client: APIClient) -> None:
    assert post(ingest_client, {"body": "a" * 20_000}).status_code == 201
    assert post(ingest_client, {"body": "a" * 20_001}).status_code == 400


@pytest.mark.parametrize("raw", [b"{not json", b'{"body": "x",}', b"\xff\xfe", b"[1, 2]", b'"a string"'])
def test_malformed_json_is_a_400_not_a_500(ingest_client: APIClient, raw: bytes) -> None:
    response = ingest_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # A lone surrogate is valid JSON but not Unicode: a choice field's error would echo
        # it back and fail to encode (a 500) before the parser refused it everywhere.
        (b'{"body": "x", "channel": "\\ud800"}', "channel"),
        (b'{"body": "x", "customer_ref": "\\udfff"}', "customer_ref"),
        (b'{"body": "fine", "subject": "a\\ud83d"}', "subject"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_field(ingest_client: APIClient, raw: bytes, field: str) -> None:
    response = ingest_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert "lone surrogate" in response.json()[field][0]
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("charset", ["zlib", "rot13", "base64", "latin-1", "no-such-codec"])
def test_json_is_read_as_utf8_whatever_charset_the_request_names(ingest_client: APIClient, charset: str) -> None:
    # Python's codec registry holds transforms: a 1 MB body sent as charset=zlib
    # inflated to 1 GB in the worker before it was refused.
    raw = '{"subject": "Carte bloquée", "body": "x"}'.encode()
    response = ingest_client.post(URL, raw, content_type=f"application/json; charset={charset}")
    assert response.status_code == 201, response.content
    assert Ticket.objects.get().subject == "Carte bloquée"


def test_a_body_that_is_not_utf8_is_a_400_and_nothing_stored(ingest_client: APIClient) -> None:
    raw = '{"subject": "Carte bloquée", "body": "x"}'.encode("latin-1")
    response = ingest_client.post(URL, raw, content_type="application/json; charset=latin-1")
    assert response.status_code == 400 and "not UTF-8" in response.json()["detail"]
    assert Ticket.objects.count() == 0


def test_a_request_body_over_the_upload_limit_is_refused_unread(ingest_client: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    raw = b'{"subject": "big", "body": "' + b"a" * 2_000 + b'"}'
    response = ingest_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 413 and "1,000 bytes" in response.json()["detail"]
    assert Ticket.objects.count() == 0


def test_the_upload_limit_leaves_room_for_the_longest_ticket_written_as_escapes(ingest_client: APIClient) -> None:
    # 20,000 emoji, each a \ud83d\ude00 surrogate pair in the JSON: 240 kB of body for a
    # body at the limit (counted in code points as stored). It is read, and stored.
    raw = b'{"subject": "emoji", "body": "' + b"\\ud83d\\ude00" * 20_000 + b'"}'
    response = ingest_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 201, response.content[:200]
    assert len(Ticket.objects.get().body) == 20_000


@pytest.mark.parametrize(
    ("received_at", "message"),
    [
        ("9999-12-31T23:30:00+01:00", "future"),
        ("1999-12-31T23:59:59Z", "before 2000"),
        ("0001-01-01T00:00:00", "out of range"),  # naive, east of UTC: it overflowed into a 500
    ],
)
def test_a_received_time_out_of_bounds_is_a_400(
    ingest_client: APIClient, settings: Any, received_at: str, message: str
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    response = post(ingest_client, {"body": "x", "received_at": received_at})
    assert response.status_code == 400 and message in response.json()["received_at"][0]
    assert Ticket.objects.count() == 0


def test_a_received_time_a_little_ahead_of_our_clock_is_accepted(ingest_client: APIClient) -> None:
    ahead = (timezone.now() + timedelta(minutes=2)).isoformat()
    assert post(ingest_client, {"body": "x", "received_at": ahead}).status_code == 201


def test_json_nested_past_the_recursion_limit_is_a_400(ingest_client: APIClient) -> None:
    response = ingest_client.post(URL, b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    assert response.status_code == 400 and response.json()["non_field_errors"]


def test_it_refuses_anonymous_callers(db: Any) -> None:
    assert post(APIClient(), {"body": "x"}).status_code == 401
    assert post(client_for(None), {"body": "x"}, HTTP_AUTHORIZATION="Token nope").status_code == 401
    assert Ticket.objects.count() == 0


def test_agents_and_outsiders_cannot_ingest(agent: Any, outsider: Any) -> None:
    assert post(client_for(agent), {"body": "x"}).status_code == 403
    assert post(client_for(outsider), {"body": "x"}).status_code == 403
    assert Ticket.objects.count() == 0
