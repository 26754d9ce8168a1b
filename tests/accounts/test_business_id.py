"""`businessId` in a seed-style body: accepted only when it is the caller's own, 404 otherwise,
on every endpoint that takes a body (issue #13: /api/products silently ignored it)."""

import pytest

from accounts.models import Membership
from mpesa.models import StkPush
from payment_configs.models import PaymentConfig
from sales.models import Product, Sale
from tests.conftest import accept_push, client_for, error_of, setup_till
from wallet.models import TokenPurchase

TILL = {"method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "pk", "account_reference": "SHOP1"}


@pytest.fixture
def shop(owner):
    setup_till(owner.business)
    product = Product.objects.create(business=owner.business, name="Unga", sku="UNGA", price=230, stock=5)
    return owner, product


def cases(product):
    return [
        ("post", "/api/products", {"name": "Milk", "sku": "MILK", "price": 65}),
        ("patch", f"/api/products/{product.public_id}", {"price": 999}),
        ("post", "/api/sales/payment", {"phone": "0708374149", "amount": 10}),
        ("post", "/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 10}),
        ("post", "/api/payment-config/setup", {**TILL, "account_reference": "NEW1"}),
        ("patch", "/api/payment-config", {"account_reference": "NEW2"}),
        ("post", "/api/payment-config/verify", {}),
        ("post", "/api/business/members", {"email": "c@example.com", "full_name": "C", "password": "Str0ng-pass-123"}),
    ]


def _snapshot():
    return (
        list(Product.objects.order_by("id").values_list("sku", "price")),
        list(PaymentConfig.objects.order_by("id").values_list("account_reference", "is_active")),
        Sale.objects.count(), StkPush.objects.count(), TokenPurchase.objects.count(), Membership.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(8))
@pytest.mark.parametrize("foreign", ["other-business", 12345, None])
def test_another_business_id_is_404_on_every_write_and_changes_nothing(shop, make_owner, daraja, index, foreign):
    owner, product = shop
    other = make_owner()
    business_id = str(other.business.public_id) if foreign == "other-business" else foreign
    method, path, body = cases(product)[index]
    before = _snapshot()
    response = getattr(client_for(owner), method)(path, {**body, "businessId": business_id}, format="json")
    assert response.status_code == 404, (path, response.content)
    assert error_of(response) == {"code": "not_found", "message": "Business not found.", "fields": {}}
    assert _snapshot() == before
    assert len(daraja.calls) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(8))
def test_the_callers_own_business_id_is_accepted_everywhere(shop, daraja, index):
    owner, product = shop
    accept_push(daraja)
    method, path, body = cases(product)[index]
    response = getattr(client_for(owner), method)(path, {**body, "businessId": str(owner.business.public_id)}, format="json")
    assert response.status_code in (200, 201, 202), (path, response.content)
