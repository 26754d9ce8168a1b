"""Bodies no client should send: 3 MB of JSON and 6 KB of nested brackets (issue #13).

Each answers its documented 4xx in the one error shape, and writes nothing."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.models import User
from mpesa.models import StkPush
from payme.models import IdempotencyKey
from payme.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from payment_configs.models import PaymentConfig
from sales.models import Product, Sale
from tests.conftest import client_for, error_of, setup_till
from wallet.models import TokenPurchase

THREE_MB = json.dumps({"phone": "0708374149", "amount": 10, "pad": "x" * (3 * 1024 * 1024)})
NESTED = "[" * 6000 + "]" * 6000

# Every path that takes a JSON body: the four of the report first.
BODY_PATHS = [
    ("post", "/api/auth/sign-in"),
    ("post", "/api/products"),
    ("post", "/api/sales/payment"),
    ("post", "/api/wallet-payment/initiate"),
    ("post", "/api/auth/sign-up"),
    ("post", "/api/auth/token/refresh"),
    ("post", "/api/auth/sign-out"),
    ("post", "/api/business/members"),
    ("post", "/api/payment-config/setup"),
    ("patch", "/api/payment-config"),
    ("post", "/api/payment-config/verify"),
    ("patch", "/api/products/{product}"),
]


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (User, StkPush, Sale, Product, TokenPurchase, IdempotencyKey, PaymentConfig)
    }


@pytest.fixture
def shop(owner):
    setup_till(owner.business)
    product = Product.objects.create(business=owner.business, name="Unga", sku="UNGA", price=230, stock=5)
    return owner, product


def _send(client, method, path, body, product, **headers):
    return getattr(client, method)(path.format(product=product.public_id), data=body, content_type="application/json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), BODY_PATHS)
def test_three_megabyte_body_is_413_request_too_large_and_writes_nothing(shop, method, path, settings):
    owner, product = shop
    before = _counts()
    response = _send(client_for(owner), method, path, THREE_MB, product, HTTP_IDEMPOTENCY_KEY="k-big")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large"
    assert error["message"] == f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    assert error["max_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert _counts() == before
    assert Product.objects.get(pk=product.pk).name == "Unga"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), BODY_PATHS)
def test_deeply_nested_json_is_400_malformed_json_and_writes_nothing(shop, method, path):
    owner, product = shop
    before = _counts()
    response = _send(client_for(owner), method, path, NESTED, product, HTTP_IDEMPOTENCY_KEY="k-deep")
    assert response.status_code == 400
    error = error_of(response)
    assert error == {
        "code": "malformed_json",
        "message": f"The request body nests JSON more than {MAX_JSON_DEPTH} levels deep.",
        "fields": {},
    }
    assert _counts() == before


@pytest.mark.django_db
def test_nesting_too_deep_for_us_but_not_for_python_is_refused_too(shop):
    # 40 levels parse fine in Python; they are still refused before any serializer walks them.
    owner, product = shop
    body = json.dumps({"phone": "0708374149", "amount": 10, "description": json.loads("[" * 40 + "]" * 40)})
    before = _counts()
    response = client_for(owner).post("/api/sales/payment", data=body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"
    assert _counts() == before


@pytest.mark.django_db
def test_a_body_at_the_depth_limit_reaches_the_serializer(shop):
    owner, product = shop
    nested = json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))
    response = client_for(owner).post("/api/products", {"name": nested, "sku": "X", "price": 1}, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"
    assert list(error_of(response)["fields"]) == ["name"]


def test_depth_check_counts_levels_exactly():
    assert not json_depth_exceeds({"a": [1, {"b": []}]}, limit=4)  # object, list, object, list
    assert json_depth_exceeds({"a": [1, {"b": []}]}, limit=3)
    assert json_depth_exceeds({"a": [1, {"b": [[]]}]}, limit=4)
    assert not json_depth_exceeds("text", limit=0)


nested_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)


@pytest.mark.django_db
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    path=st.sampled_from(["/api/auth/sign-in", "/api/products", "/api/sales/payment", "/api/wallet-payment/initiate"]),
    depth=st.integers(min_value=1, max_value=3000),
    leaf=nested_values,
    pad=st.sampled_from([0, 1024, 2 * 1024 * 1024]),
)
def test_any_depth_or_size_answers_a_documented_4xx_and_writes_nothing(shop, path, depth, leaf, pad):
    owner, product = shop
    text = json.dumps(leaf)
    body = "[" * depth + text + "]" * depth
    if pad:
        body = json.dumps({"pad": "x" * pad, "body": "{}"})[:-1] + ", \"nested\": " + body + "}"
    before = _counts()
    response = client_for(owner).post(path, data=body, content_type="application/json")
    error = error_of(response)
    if len(body.encode()) > 1024 * 1024:
        assert (response.status_code, error["code"]) == (413, "request_too_large")
    elif json_depth_exceeds(json.loads(body)) if depth < 500 else True:
        assert (response.status_code, error["code"]) == (400, "malformed_json")
    else:
        assert response.status_code == 400
    assert _counts() == before
