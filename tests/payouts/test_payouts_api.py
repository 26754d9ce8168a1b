"""Payout config, payouts, approvals, limits and refunds through the API. Only Daraja is mocked."""

import json
import logging

import pytest
import requests
import responses

from accounts.models import Membership
from accounts.services import member_add
from mpesa.commands import daraja_command_reconcile
from mpesa.models import DarajaCommand
from mpesa.services import PushResult, stk_push_apply_result
from payme.models import IdempotencyKey
from payouts.models import Payout, PayoutConfig
from payouts.services import payout_config_setup
from sales.models import Product, Sale, StockMovement
from sales.services import product_create, sale_create
from tests.conftest import DARAJA, client_for, error_of, setup_till

B2C = f"{DARAJA}/mpesa/b2c/v3/paymentrequest"
REVERSAL = f"{DARAJA}/mpesa/reversal/v1/request"
BALANCE = f"{DARAJA}/mpesa/accountbalance/v1/query"
STATUS = f"{DARAJA}/mpesa/transactionstatus/v1/query"
PASSWORD = "Sentinel-Initiator-Pw-7731!*!"


def setup_payouts(business, **extra):
    values = dict(shortcode="600996", initiator_name="testapi", initiator_password=PASSWORD,
                  max_per_payout=50_000, daily_max=100_000, approval_threshold=10_000)
    values.update(extra)
    return payout_config_setup(business=business, **values)


def ack(mock, url=B2C):
    def reply(request):
        body = json.loads(request.body)
        return 200, {}, json.dumps({
            "ConversationID": f"AG_20261201_{len(mock.calls):06d}",
            "OriginatorConversationID": body.get("OriginatorConversationID", f"orig-{len(mock.calls)}"),
            "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully.",
        })

    mock.add_callback(responses.POST, url, callback=reply)


def b2c_calls(mock, url=B2C):
    return [c for c in mock.calls if c.request.url == url]


def b2c_result(command, code=0, receipt="SG632NMUAB", amount=None, phone=None):
    result = {"ResultType": 0, "ResultCode": code, "ResultDesc": "The service request is processed successfully.",
              "OriginatorConversationID": command.originator_conversation_id, "ConversationID": command.conversation_id,
              "TransactionID": receipt}
    if code == 0:
        result["ResultParameters"] = {"ResultParameter": [
            {"Key": "TransactionAmount", "Value": amount or command.amount},
            {"Key": "TransactionReceipt", "Value": receipt},
            {"Key": "ReceiverPartyPublicName", "Value": f"{phone or command.phone} - JANE WANJIKU"},
            {"Key": "TransactionCompletedDateTime", "Value": "01.12.2026 21:48:52"},
            {"Key": "B2CUtilityAccountAvailableFunds", "Value": 8959269.60},
        ]}
    else:
        result["ResultDesc"] = "The balance is insufficient for the transaction."
    return {"Result": result}


def deliver(client, command, body):
    return client.post(f"/api/daraja/callback/{command.callback_token}/", data=json.dumps(body), content_type="application/json")


@pytest.fixture
def second_owner(owner):
    return member_add(business=owner.business, email="second@example.com", password="Str0ng-pass-123",
                      full_name="Second Owner", role=Membership.Role.OWNER)


@pytest.fixture
def configured(owner):
    return setup_payouts(owner.business)


def ask(api, **body):
    values = {"phone": "0705912645", "amount": 500, "remarks": "Supplier payment"}
    values.update(body)
    return api.post("/api/payouts", values, format="json")


# --- Payout config -----------------------------------------------------------------------------


def test_setup_stores_the_password_encrypted_and_never_shows_it(api, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post("/api/payout-config/setup", {"shortcode": "600996", "initiator_name": "testapi",
                                                      "initiator_password": PASSWORD, "approval_threshold": 5000}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["initiator_password_set"] is True
    assert (body["shortcode"], body["initiator_name"], body["approval_threshold"], body["balance"]) == ("600996", "testapi", 5000, None)
    read = api.get("/api/payout-config")
    patched = api.patch("/api/payout-config", {"initiator_password": "", "daily_max": 2000}, format="json")
    assert patched.json()["daily_max"] == 2000
    config = PayoutConfig.objects.get()
    assert config.initiator_password.reveal() == PASSWORD
    for text in (response.content.decode(), read.content.decode(), patched.content.decode(), caplog.text):
        assert PASSWORD not in text
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT initiator_password FROM payouts_payoutconfig")
        assert PASSWORD not in cursor.fetchone()[0]


@pytest.mark.parametrize("password", ["pass(word", "pass)word", "me@home1", "pass.word"])
def test_initiator_password_daraja_cannot_use_is_refused_without_echo(api, password):
    response = api.post("/api/payout-config/setup", {"shortcode": "600996", "initiator_name": "testapi",
                                                      "initiator_password": password}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["initiator_password"]
    assert password not in response.content.decode()
    assert PayoutConfig.objects.count() == 0


def test_cashier_cannot_touch_payouts(cashier, configured):
    client = client_for(cashier)
    assert client.post("/api/payout-config/setup", {}, format="json").status_code == 403
    assert client.get("/api/payout-config").status_code == 403
    assert ask(client).status_code == 403
    assert Payout.objects.count() == 0


def test_payout_config_secrets_never_in_the_admin(owner, configured, client):
    client.force_login(owner.user)
    page = client.get(f"/admin/payouts/payoutconfig/{configured.pk}/change/")
    assert page.status_code == 200
    assert PASSWORD not in page.content.decode()


def test_balance_request_sets_balance_from_the_result(api, configured, daraja):
    ack(daraja, BALANCE)
    assert api.post("/api/payout-config/balance").status_code == 202
    command = DarajaCommand.objects.get(kind="account_balance")
    assert command.status == "accepted"
    body = {"Result": {"ResultType": "0", "ResultCode": "0", "ResultDesc": "The service request is processed successfully.",
                       "ConversationID": command.conversation_id,
                       "ResultParameters": {"ResultParameter": [
                           {"Key": "AccountBalance", "Value": "Working Account|KES|0.00|0.00|0.00|0.00&Utility Account|KES|12345.60|12345.60|0.00|0.00"},
                           {"Key": "BOCompletedTime", "Value": 20261201214852}]}}}
    deliver(api, command, body)
    read = api.get("/api/payout-config").json()
    assert read["balance"] == "12345.60"
    assert read["balance_at"].startswith("2026-12-01T21:48:52")


# --- Payouts -----------------------------------------------------------------------------------


def test_payout_below_threshold_is_sent_and_settled_by_its_result(api, configured, daraja):
    ack(daraja)
    response = ask(api)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["phone"], body["amount"], body["command"]) == ("pending", "254705912645", 500, "BusinessPayment")
    payout = Payout.objects.get()
    sent = json.loads(b2c_calls(daraja)[0].request.body)
    assert (sent["OriginatorConversationID"], sent["Amount"], sent["PartyB"], sent["PartyA"]) == (
        payout.originator_conversation_id, 500, "254705912645", "600996")
    command = payout.daraja_command
    deliver(api, command, b2c_result(command))
    deliver(api, command, b2c_result(command))  # duplicate: nothing changes
    read = api.get(f"/api/payouts/{payout.public_id}").json()
    assert (read["status"], read["receipt"], read["recipient_name"], read["reason"]) == ("succeeded", "SG632NMUAB", "JANE WANJIKU", "")


def test_failed_payout_says_why(api, configured, daraja):
    ack(daraja)
    ask(api)
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command, code=1))
    read = api.get("/api/payouts").json()["results"][0]
    assert read["status"] == "failed"
    assert read["reason"] == "The B2C account does not hold enough money for this payment. Top up the utility account."


def test_result_for_another_phone_goes_to_review(api, configured, daraja):
    ack(daraja)
    ask(api)
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command, phone="254711111111"))
    payout = Payout.objects.get()
    assert (payout.status, payout.receipt) == ("needs_review", "")


def test_no_payout_config_is_refused(api, daraja):
    response = ask(api)
    assert response.status_code == 409
    assert error_of(response)["code"] == "payout_config_missing"
    assert Payout.objects.count() == DarajaCommand.objects.count() == 0


@pytest.mark.parametrize("body,field", [({"amount": 0}, "amount"), ({"amount": -5}, "amount"), ({"phone": "0205912645"}, "phone"),
                                        ({"remarks": ""}, "remarks"), ({"command": "Steal"}, "command"), ({"amount": 250_001}, "amount")])
def test_bad_input_is_400_with_the_field(api, configured, body, field):
    response = ask(api, **body)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
    assert Payout.objects.count() == 0


def test_above_per_payout_maximum_is_refused(api, configured, daraja):
    response = ask(api, amount=50_001)
    assert response.status_code == 422
    assert error_of(response)["code"] == "payout_limit_exceeded"
    assert Payout.objects.count() == 0 and b2c_calls(daraja) == []


def test_daily_maximum_counts_what_already_left_today(api, owner, daraja):
    setup_payouts(owner.business, daily_max=1_000)
    ack(daraja)
    assert ask(api, amount=600).status_code == 202
    response = ask(api, amount=401)
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["fields"]) == ("daily_limit_exceeded", {"amount": ["At most 400 is left today."]})
    assert Payout.objects.count() == 1


def test_idempotency_key_pays_once(api, configured, daraja):
    ack(daraja)
    first = api.post("/api/payouts", {"phone": "0705912645", "amount": 500, "remarks": "Rent"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = api.post("/api/payouts", {"phone": "0705912645", "amount": 500, "remarks": "Rent"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    other = api.post("/api/payouts", {"phone": "0705912645", "amount": 501, "remarks": "Rent"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Payout.objects.count() == 1 and len(b2c_calls(daraja)) == 1
    assert IdempotencyKey.objects.count() == 1


def test_above_threshold_waits_for_a_second_owner(api, configured, second_owner, daraja):
    ack(daraja)
    response = ask(api, amount=20_000)
    assert response.json()["status"] == "awaiting_approval"
    payout_id = response.json()["id"]
    assert b2c_calls(daraja) == []
    own = api.post(f"/api/payouts/{payout_id}/approve")
    assert (own.status_code, error_of(own)["code"]) == (403, "approval_not_allowed")
    assert Payout.objects.get().status == "awaiting_approval"
    approved = client_for(second_owner).post(f"/api/payouts/{payout_id}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "pending"
    assert len(b2c_calls(daraja)) == 1
    again = client_for(second_owner).post(f"/api/payouts/{payout_id}/approve")
    assert (again.status_code, error_of(again)["code"]) == (409, "payout_not_awaiting_approval")
    payout = Payout.objects.get()
    assert (payout.approved_by_id, payout.requested_by_id) == (second_owner.user_id, api.handler._force_user.pk)


def test_superuser_may_approve(api, configured, owner, daraja, django_user_model):
    from payouts.services import payout_approve

    ack(daraja)
    payout_id = ask(api, amount=20_000).json()["id"]
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="Str0ng-pass-123")
    from tests.conftest import run_worker

    with run_worker():
        payout = payout_approve(business=None, payout_id=payout_id, user=admin, is_owner=False)
    assert payout.status == "pending"
    assert len(b2c_calls(daraja)) == 1


def test_reject_with_reason(api, configured, second_owner, daraja):
    payout_id = ask(api, amount=20_000).json()["id"]
    response = client_for(second_owner).post(f"/api/payouts/{payout_id}/reject", {"reason": "Not our supplier"}, format="json")
    assert (response.json()["status"], response.json()["reason"]) == ("rejected", "Not our supplier")
    assert DarajaCommand.objects.count() == 0


def test_another_business_sees_none_of_it(api, configured, make_owner, daraja):
    ack(daraja)
    payout_id = ask(api, amount=20_000).json()["id"]
    other = make_owner(business_name="Other", phone="254733444555")
    setup_payouts(other.business)
    client = client_for(other)
    for method, url in (("get", f"/api/payouts/{payout_id}"), ("post", f"/api/payouts/{payout_id}/approve"),
                        ("post", f"/api/payouts/{payout_id}/reject")):
        assert getattr(client, method)(url).status_code == 404
    assert client.get("/api/payouts").json()["results"] == []
    assert Payout.objects.get().status == "awaiting_approval"


def test_daraja_hanging_leaves_the_payout_pending_and_unknown_then_status_settles_it(api, configured, daraja):
    daraja.add(responses.POST, B2C, body=requests.exceptions.ReadTimeout())
    assert ask(api).json()["status"] == "pending"
    payout = Payout.objects.get()
    assert payout.daraja_command.status == "unknown"
    ack(daraja, STATUS)
    daraja_command_reconcile()
    assert len(b2c_calls(daraja)) == 1


# --- Refunds -----------------------------------------------------------------------------------


@pytest.fixture
def paid_cart_sale(owner):
    setup_till(owner.business)
    product = product_create(business=owner.business, name="Widget", sku="W1", price=400, stock=5)
    sale = sale_create(business=owner.business, phone="254722999888", items=[{"product_id": product.public_id, "quantity": 2}])
    stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt="NLJ7RT61SV", amount=sale.amount, phone=sale.phone))
    sale.refresh_from_db()
    assert (sale.status, sale.amount, Product.objects.get().stock) == ("paid", 800, 3)
    return sale


def reversal_result(command, amount):
    return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
                       "OriginatorConversationID": command.originator_conversation_id, "ConversationID": command.conversation_id,
                       "TransactionID": "SKL0000REV", "ResultParameters": {"ResultParameter": [
                           {"Key": "Amount", "Value": float(amount)}, {"Key": "OriginalTransactionID", "Value": "NLJ7RT61SV"},
                           {"Key": "CreditPartyPublicName", "Value": "254722999888 - JOHN DOE"}]}}}


def test_whole_refund_reverses_the_receipt_and_restocks(api, configured, paid_cart_sale, daraja):
    ack(daraja, REVERSAL)
    response = api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {"restock": True}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["kind"], body["method"], body["amount"], body["sale_id"], body["status"]) == (
        "refund", "reversal", 800, str(paid_cart_sale.public_id), "pending")
    sent = json.loads(b2c_calls(daraja, REVERSAL)[0].request.body)
    assert (sent["TransactionID"], sent["Amount"], sent["ReceiverParty"]) == ("NLJ7RT61SV", 800, "600996")
    command = Payout.objects.get().daraja_command
    deliver(api, command, reversal_result(command, 800))
    deliver(api, command, reversal_result(command, 800))
    sale = api.get(f"/api/sales/{paid_cart_sale.public_id}").json()
    assert (sale["status"], sale["refunded_amount"]) == ("refunded", 800)
    assert Product.objects.get().stock == 5
    assert StockMovement.objects.filter(reason="refund").count() == 1
    refunds = api.get(f"/api/sales/{paid_cart_sale.public_id}/refunds").json()
    assert [(r["status"], r["receipt"]) for r in refunds] == [("succeeded", "SKL0000REV")]


def test_partial_refund_then_the_rest_then_nothing_more(api, configured, paid_cart_sale, daraja):
    ack(daraja)
    url = f"/api/sales/{paid_cart_sale.public_id}/refunds"
    first = api.post(url, {"amount": 300}, format="json").json()
    assert (first["method"], first["amount"], first["phone"]) == ("b2c", 300, "254722999888")
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command))
    assert api.get(f"/api/sales/{paid_cart_sale.public_id}").json()["status"] == "partially_refunded"
    over = api.post(url, {"amount": 501}, format="json")
    assert (over.status_code, error_of(over)["code"], error_of(over)["fields"]) == (422, "refund_exceeds_paid", {"amount": ["Must be at most 500."]})
    rest = api.post(url, {}, format="json").json()
    assert (rest["amount"], rest["method"]) == (500, "b2c")
    command = Payout.objects.get(public_id=rest["id"]).daraja_command
    deliver(api, command, b2c_result(command, receipt="SG632NMUAC"))
    sale = Sale.objects.get()
    assert (sale.status, sale.refunded_amount) == ("refunded", 800)
    refused = api.post(url, {"amount": 1}, format="json")
    assert refused.status_code == 409  # a fully refunded sale is no longer refundable
    assert Payout.objects.count() == 2


def test_refund_of_an_unpaid_sale_is_refused(api, configured, owner):
    setup_till(owner.business)
    sale = sale_create(business=owner.business, phone="254722999888", amount=100)
    response = api.post(f"/api/sales/{sale.public_id}/refunds", {}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "sale_not_refundable")
    assert Payout.objects.count() == 0


def test_refund_of_another_business_sale_is_404(configured, paid_cart_sale, make_owner):
    other = make_owner(business_name="Other", phone="254733444555")
    setup_payouts(other.business)
    client = client_for(other)
    assert client.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {}, format="json").status_code == 404
    assert client.get(f"/api/sales/{paid_cart_sale.public_id}/refunds").status_code == 404
    assert Payout.objects.count() == 0


def test_refund_without_payout_config_is_refused(api, paid_cart_sale):
    response = api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "payout_config_missing")
    assert Payout.objects.count() == 0


def test_refund_above_threshold_waits_for_approval(api, owner, paid_cart_sale, daraja):
    setup_payouts(owner.business, approval_threshold=100)
    body = api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {"amount": 300}, format="json").json()
    assert body["status"] == "awaiting_approval"
    # What awaits approval is already reserved: only 500 is left to ask for.
    over = api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {"amount": 501}, format="json")
    assert over.status_code == 422


def test_dashboard_shows_the_b2c_balance_and_what_awaits_approval(owner, configured, client, api):
    from decimal import Decimal

    PayoutConfig.objects.filter(pk=configured.pk).update(balance=Decimal("12345.60"))
    ask(api, amount=20_000)
    client.force_login(owner.user)
    page = client.get("/admin/").content.decode()
    assert 'id="dash-payout" style="font-size:15px">KES 12,345.60<' in page
    assert "1 awaiting approval." in page


def test_admin_approve_action_by_a_second_owner(api, configured, second_owner, client, daraja):
    from tests.conftest import run_worker

    ack(daraja)
    ask(api, amount=20_000)
    payout = Payout.objects.get()
    client.force_login(second_owner.user)
    with run_worker():
        response = client.post("/admin/payouts/payout/", {"action": "approve", "_selected_action": [payout.pk]}, follow=True)
    assert response.status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.approved_by_id) == ("pending", second_owner.user_id)
    assert len(b2c_calls(daraja)) == 1
