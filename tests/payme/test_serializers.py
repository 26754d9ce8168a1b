"""payme/serializers.py: serializers that bind their fields once per class render and validate
exactly as DRF's per-instance fields do."""

import pytest
from django.test import Client
from rest_framework import serializers

from sales.models import Sale
from sales.serializers import InvoiceInput, SaleInput, SaleItemOut, SaleOut
from sales.services import product_create
from tests.conftest import accept_push, client_for, failure_callback, post_callback, setup_paybill, success_callback
from tests.mpesa.test_c2b import make_registration
from wallet.models import TokenPurchase
from wallet.serializers import PurchaseInput, PurchaseOut


def _plain(cls):
    """The same serializer with DRF's own per-instance fields."""
    return type(f"Plain{cls.__name__}", (cls,), {"fields": serializers.Serializer.fields})


@pytest.fixture
def sales(owner, daraja):
    setup_paybill(owner.business)
    make_registration(owner.business)  # invoices need C2B registered
    unga = product_create(business=owner.business, name="Unga", sku="UNGA", price=230, stock=10)
    client = client_for(owner)
    ids = []
    for body in (
        {"phone": "254708374141", "amount": 150, "description": "Parking"},
        {"phone": "254708374142", "items": [{"product_id": str(unga.public_id), "quantity": 2}]},
        {"phone": "254708374143", "amount": 99},
    ):
        accept_push(daraja)
        ids.append(client.post("/api/sales/payment", body, format="json").json()["id"])
    paid, cart, failed = (Sale.objects.select_related("push").get(public_id=i) for i in ids)
    post_callback(Client(), paid.push, success_callback(paid.push, receipt="NLJ7RT61SV"))
    post_callback(Client(), failed.push, failure_callback(failed.push))
    invoice = client.post("/api/sales/invoice", {"amount": 300}, format="json").json()["id"]
    return [Sale.objects.select_related("push").prefetch_related("items__product").get(public_id=i) for i in (*ids, invoice)]


def test_sale_answers_equal_drfs_own(sales):
    assert [s.status for s in sales] == ["paid", "pending", "cancelled", "awaiting_payment"]
    for sale in sales:
        assert SaleOut(sale).data == _plain(SaleOut)(sale).data
    assert SaleOut(sales, many=True).data == _plain(SaleOut)(sales, many=True).data
    cart = SaleOut(sales[1]).data
    assert [(i["sku"], i["quantity"], i["line_total"]) for i in cart["items"]] == [("UNGA", 2, 460)]
    assert SaleOut(sales[0]).data["mpesa_receipt"] == "NLJ7RT61SV"
    assert SaleOut(sales[2]).data["reason"] == _plain(SaleOut)(sales[2]).data["reason"] != ""


def test_purchase_answers_equal_drfs_own(owner, daraja):
    accept_push(daraja)
    client_for(owner).post("/api/wallet-payment/initiate", {"phone": "254708374149", "amount": 10}, format="json")
    purchase = TokenPurchase.objects.select_related("push").get()
    assert PurchaseOut(purchase).data == _plain(PurchaseOut)(purchase).data
    assert PurchaseOut(purchase).data["paybill"] == "650880"


def test_fields_are_built_once_per_class():
    assert SaleOut().fields is SaleOut().fields
    assert SaleItemOut().fields is not SaleOut().fields
    assert list(SaleOut().fields) == list(_plain(SaleOut)().fields)


BODIES = [
    {"phone": "0708374149", "amount": "1140.8333", "account_reference": "SLOT5", "description": "Parking"},
    {"phone": 708374149, "items": [{"product_id": "5b1d7c0e-8f5a-4d8e-9a3b-1f2e3d4c5b6a", "quantity": 2}]},
    {"phone": "0708374149", "items": [{"product_id": "nope", "quantity": 0}, {"quantity": 1}]},
    {"phone": "0708374149", "items": []},
    {"phone": "0708374149", "amount": 10, "items": [{"product_id": "5b1d7c0e-8f5a-4d8e-9a3b-1f2e3d4c5b6a", "quantity": 1}]},
    {"phone": "12345", "amount": 0, "account_reference": "--", "description": "x" * 101},
    {"phone": None, "amount": True},
    {"amount": [1], "items": "not a list"},
    {},
    [],
    "text",
]


@pytest.mark.parametrize("cls", [SaleInput, InvoiceInput, PurchaseInput])
def test_bodies_validate_and_fail_exactly_as_with_drfs_own_fields(cls):
    for body in BODIES:
        ours, plain = cls(data=body), _plain(cls)(data=body)
        assert ours.is_valid() == plain.is_valid(), body
        assert ours.errors == plain.errors, body
        # Error codes (they become the API's error codes) as well as the messages.
        assert repr(ours.errors) == repr(plain.errors), body
        if ours.is_valid():
            assert ours.validated_data == plain.validated_data, body
    valid = SaleInput(data=BODIES[0])
    assert valid.is_valid() and dict(valid.validated_data) == {
        "phone": "254708374149", "amount": 1141, "account_reference": "SLOT5", "description": "Parking",
    }


def test_a_run_leaves_nothing_on_the_shared_fields():
    first = SaleInput(data={"phone": "bad", "items": [{"product_id": "nope", "quantity": 0}]})
    assert not first.is_valid()
    second = SaleInput(data={"phone": "0708374149", "amount": 5})
    assert second.is_valid(), second.errors
    assert dict(second.validated_data) == {"phone": "254708374149", "amount": 5}
    assert set(first.errors) == {"phone", "items"}


def test_context_partial_updates_and_updates_are_refused():
    with pytest.raises(TypeError, match="binds its fields once"):
        SaleOut(context={"request": None})
    with pytest.raises(TypeError, match="binds its fields once"):
        SaleInput(data={}, partial=True)
    with pytest.raises(TypeError, match="binds its fields once"):
        PurchaseOut(object(), data={})
