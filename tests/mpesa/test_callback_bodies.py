"""Callback bodies that used to answer 503 (issue #13): deep nesting and NUL bytes. Each is
stored byte for byte, answered 400, and changes nothing else. Run on PostgreSQL too: it is the
database that refused NUL in text."""

import base64
import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mpesa.callbacks import BASE64_PREFIX, stored_body
from mpesa.models import CallbackDelivery, StkPush
from tests.conftest import accept_push, client_for, failure_callback, post_callback, success_callback
from wallet.models import TokenPurchase, Wallet, WalletEntry


@pytest.fixture
def push(owner, daraja):
    """A token purchase started through the API, as a client would."""
    accept_push(daraja)
    response = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    assert response.status_code == 202, response.content
    return TokenPurchase.objects.get(public_id=response.json()["id"]).push


def _state(push):
    row = StkPush.objects.get(pk=push.pk)
    return (row.status, row.result_code, row.mpesa_receipt, Wallet.objects.get(business=push.business).balance, WalletEntry.objects.count())


def _decoded(delivery):
    assert delivery.body.startswith(BASE64_PREFIX)
    return base64.b64decode(delivery.body[len(BASE64_PREFIX):])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\x00", b'{"Body": "\x00"}', b"\x00", b"\xc3\x28 not utf-8"],
    ids=["utf16-bom-nul", "nul-in-json-text", "nul-alone", "invalid-utf8"],
)
def test_a_body_that_is_not_clean_utf8_is_stored_byte_safe_and_answered_400(push, raw):
    before = _state(push)
    response = post_callback(Client(), push, raw)
    assert response.status_code == 400
    assert response.json() == {"ResultCode": 1, "ResultDesc": "Rejected: malformed"}
    delivery = CallbackDelivery.objects.get()
    assert (delivery.outcome, delivery.detail) == ("malformed", "not JSON (body stored as base64)")
    assert _decoded(delivery) == raw
    assert _state(push) == before


@pytest.mark.django_db
def test_nul_spelled_as_a_json_escape_is_refused_before_it_reaches_the_push(push):
    body = success_callback(push)
    body["Body"]["stkCallback"]["ResultDesc"] = "paid\u0000"
    raw = json.dumps(body).encode()
    assert b"\\u0000" in raw
    before = _state(push)
    response = post_callback(Client(), push, raw)
    assert response.status_code == 400
    delivery = CallbackDelivery.objects.get()
    assert (delivery.outcome, delivery.detail) == ("malformed", "NUL character in the JSON")
    assert delivery.body == raw.decode()  # plain JSON text: stored as it came
    assert _state(push) == before


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["[" * 6000 + "]" * 6000, '{"Body": ' * 40 + "{}" + "}" * 40])
def test_deeply_nested_json_is_400_malformed_and_stored(push, raw):
    before = _state(push)
    response = post_callback(Client(), push, raw)
    assert response.status_code == 400
    delivery = CallbackDelivery.objects.get()
    assert (delivery.outcome, delivery.detail, delivery.body) == ("malformed", "not JSON", raw)
    assert _state(push) == before


@pytest.mark.django_db
def test_three_megabytes_is_413_and_stores_no_body(push):
    before = _state(push)
    response = post_callback(Client(), push, json.dumps({"pad": "x" * (3 * 1024 * 1024)}))
    assert response.status_code == 413
    delivery = CallbackDelivery.objects.get()
    assert (delivery.outcome, delivery.body) == ("too_large", "")
    assert _state(push) == before


@pytest.mark.django_db
def test_after_a_refused_body_the_genuine_callback_still_applies(push):
    assert post_callback(Client(), push, b"\xff\xfe\x00").status_code == 400
    assert post_callback(Client(), push, failure_callback(push)).status_code == 200
    assert StkPush.objects.get(pk=push.pk).status == "cancelled"


def test_stored_body_round_trips_any_bytes():
    for raw in (b"", b"{}", "K\u00e9sh".encode(), b"\x00\x01", b"base64:abc", bytes(range(256))):
        text, encoded = stored_body(raw)
        assert "\x00" not in text
        assert (base64.b64decode(text[len(BASE64_PREFIX):]) if encoded else text.encode()) == raw


@pytest.mark.django_db
@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.binary(max_size=64) | st.builds(lambda d, inner: ("[" * d + inner + "]" * d).encode(), st.integers(30, 4000), st.sampled_from(["", "0", '"\\u0000"'])))
def test_arbitrary_bytes_and_depths_are_stored_and_change_nothing(owner, daraja, raw):
    if not StkPush.objects.exists():
        accept_push(daraja)
        client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    push = StkPush.objects.get()
    before = _state(push)
    count = CallbackDelivery.objects.count()
    response = post_callback(Client(), push, raw)
    assert response.status_code in (200, 400)
    assert CallbackDelivery.objects.count() == count + 1
    delivery = CallbackDelivery.objects.order_by("-id").first()
    assert (_decoded(delivery) if delivery.body.startswith(BASE64_PREFIX) else delivery.body.encode()) == raw
    assert _state(push) == before


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["ResultDesc", "key"])
def test_a_lone_surrogate_spelled_as_a_json_escape_is_400_not_503(push, where):
    body = failure_callback(push, 1032, "SURROGATE")
    raw = json.dumps(body)
    if where == "ResultDesc":
        raw = raw.replace('"SURROGATE"', '"\\ud800"')
    else:
        raw = raw.replace('{"Body"', '{"\\udfff": 1, "Body"')
    before = _state(push)
    response = post_callback(Client(), push, raw.encode())
    assert response.status_code == 400
    delivery = CallbackDelivery.objects.get()
    assert (delivery.outcome, delivery.detail, delivery.body) == ("malformed", "lone surrogate in the JSON", raw)
    assert _state(push) == before
