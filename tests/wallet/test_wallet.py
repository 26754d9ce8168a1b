import base64
from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.test import Client

from mpesa.models import StkPush
from payme.models import IdempotencyKey
from tests.conftest import (
    DARAJA,
    accept_push,
    client_for,
    error_of,
    failure_callback,
    post_callback,
    run_parallel,
    sent_body,
    success_callback,
)
from wallet.models import TokenPurchase, Wallet, WalletEntry
from wallet.services import InsufficientTokens, wallet_credit, wallet_debit, wallet_hold, wallet_release


@pytest.fixture(autouse=True)
def _ledger_holds_after_every_test(db):
    yield
    call_command("check_wallets", stdout=StringIO())


def balance(membership):
    return Wallet.objects.get(business=membership.business).balance


@pytest.mark.django_db
def test_purchase_pushes_to_the_platform_paybill_with_the_wallet_passkey(owner, daraja, settings):
    settings.WALLET_TOKENS_PER_KES = 2
    accept_push(daraja)
    response = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 250}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["amount"] == 250 and body["tokens"] == 500
    assert body["phone"] == "254708374149" and body["customer_message"] == "Sending the M-Pesa prompt to the customer's phone."
    assert (body["paybill"], body["account_reference"]) == ("650880", "37605544")
    assert "checkout" not in str(body).lower() and "token" not in set(body)
    sent = sent_body(daraja)
    assert sent["BusinessShortCode"] == "650880" and sent["PartyB"] == "650880"
    assert sent["AccountReference"] == "37605544" and sent["TransactionType"] == "CustomerPayBillOnline"
    assert base64.b64decode(sent["Password"]).decode() == f"650880{settings.MPESA_PASSKEY_WALLET}{sent['Timestamp']}"
    detail = client_for(owner).get(f"/api/wallet-payment/{body['id']}").json()
    assert (detail["status"], detail["customer_message"]) == ("pending", "Success. Request accepted for processing")
    oauth = [c for c in daraja.calls if "/oauth/" in c.request.url][0]
    assert oauth.request.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{settings.MPESA_CONSUMER_KEY}:{settings.MPESA_CONSUMER_SECRET}".encode()).decode()


@pytest.mark.django_db
def test_success_callback_credits_tokens_once_and_the_purchase_reads_succeeded(owner, daraja, settings):
    settings.WALLET_TOKENS_PER_KES = 3
    accept_push(daraja)
    purchase_id = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json").json()["id"]
    push = TokenPurchase.objects.get().push
    for _ in range(2):
        post_callback(Client(), push, success_callback(push))
    assert balance(owner) == 300
    detail = client_for(owner).get(f"/api/wallet-payment/{purchase_id}").json()
    assert detail["status"] == "succeeded" and detail["mpesa_receipt"] == "NLJ7RT61SV" and detail["reason"] == ""
    wallet = client_for(owner).get("/api/wallet").json()
    assert wallet["balance"] == 300 and wallet["tokens_per_kes"] == 3
    entries = client_for(owner).get("/api/wallet/entries").json()["results"]
    assert [(e["kind"], e["tokens"], e["balance_after"], e["cause"]) for e in entries] == [("credit", 300, 300, "purchase")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code, desc, status, reason",
    [
        (1032, "Request cancelled by user", "cancelled", "The customer cancelled the M-Pesa prompt."),
        (1037, "DS timeout user cannot be reached", "expired", "The customer did not answer the M-Pesa prompt in time (phone off or prompt ignored)."),
        (1, "The balance is insufficient for the transaction.", "failed", "The customer's M-Pesa balance was not enough for this payment."),
        (2001, "The initiator information is invalid.", "failed", "The customer entered a wrong M-Pesa PIN."),
    ],
)
def test_failed_purchases_credit_nothing_and_say_why(owner, daraja, code, desc, status, reason):
    accept_push(daraja)
    purchase_id = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json").json()["id"]
    push = TokenPurchase.objects.get().push
    post_callback(Client(), push, failure_callback(push, code, desc))
    detail = client_for(owner).get(f"/api/wallet-payment/{purchase_id}").json()
    assert (detail["status"], detail["reason"]) == (status, reason)
    assert balance(owner) == 0 and WalletEntry.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("forgery", ["token", "amount", "phone"])
def test_forged_callbacks_credit_nothing(owner, daraja, forgery):
    accept_push(daraja)
    client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    push = TokenPurchase.objects.get().push
    if forgery == "token":
        Client().post("/api/daraja/callback/" + "f" * 64 + "/", success_callback(push), content_type="application/json")
    elif forgery == "amount":
        post_callback(Client(), push, success_callback(push, amount=1000))
    else:
        post_callback(Client(), push, success_callback(push, phone="254799999999"))
    assert balance(owner) == 0 and WalletEntry.objects.count() == 0


@pytest.mark.django_db
def test_daraja_rejection_fails_the_purchase_at_once(owner, daraja):
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", status=400,
               json={"requestId": "r", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid PhoneNumber"})
    api = client_for(owner)
    response = api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    detail = api.get(f"/api/wallet-payment/{response.json()['id']}").json()
    assert (detail["status"], detail["daraja_error_code"]) == ("failed", "400.002.02")
    assert detail["reason"] == "Safaricom refused the request: Invalid PhoneNumber."
    assert TokenPurchase.objects.get().status == "failed" and balance(owner) == 0


@pytest.mark.django_db
def test_daraja_unreachable_leaves_the_purchase_pending_and_the_push_unknown(owner, daraja):
    import requests

    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", body=requests.ConnectTimeout("x"))
    response = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    assert TokenPurchase.objects.get().status == "pending" and StkPush.objects.get().status == "unknown"
    assert StkPush.objects.get().result_desc == "Daraja did not answer in time"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"phone": "0708374149", "amount": 0}, "amount", "amount_out_of_range"),
        ({"phone": "0708374149", "amount": 250_001}, "amount", "amount_out_of_range"),
        ({"phone": "0708374149", "amount": "ten"}, "amount", "invalid"),
        ({"phone": "12345", "amount": 10}, "phone", "invalid_phone"),
        ({"amount": 10}, "phone", "invalid"),
    ],
)
def test_bad_purchase_input_writes_nothing(owner, daraja, body, field, code):
    response = client_for(owner).post("/api/wallet-payment/initiate", body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == code and field in error["fields"]
    assert StkPush.objects.count() == 0 and TokenPurchase.objects.count() == 0 and len(daraja.calls) == 0


@pytest.mark.django_db
def test_idempotency_key_retry_and_conflict(owner, daraja):
    api = client_for(owner)
    accept_push(daraja)
    first = api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert StkPush.objects.count() == 1
    assert len([c for c in daraja.calls if c.request.url.endswith("processrequest")]) == 1
    other = api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 200}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and error_of(other)["code"] == "idempotency_key_reused"
    assert StkPush.objects.count() == 1 and IdempotencyKey.objects.get().response_status == 202


@pytest.mark.django_db
def test_second_prompt_to_the_same_phone_is_refused(owner, daraja):
    api = client_for(owner)
    accept_push(daraja)
    api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    second = api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 50}, format="json")
    assert second.status_code == 409 and error_of(second)["code"] == "prompt_in_progress"
    assert StkPush.objects.count() == 1


@pytest.mark.django_db
def test_debit_refuses_to_overdraw_and_hold_release_round_trips(owner):
    business = owner.business
    wallet_credit(business=business, tokens=10, cause="adjustment", reference="seed")
    with pytest.raises(InsufficientTokens):
        wallet_debit(business=business, tokens=11, cause="spend", reference="too-much")
    wallet_debit(business=business, tokens=4, cause="spend", reference="s1")
    wallet_debit(business=business, tokens=4, cause="spend", reference="s1")  # idempotent
    hold = wallet_hold(business=business, tokens=3, reference="sale-x")
    assert Wallet.objects.get(business=business).balance == 3
    wallet_release(reference=hold.reference)
    wallet_release(reference=hold.reference)
    assert Wallet.objects.get(business=business).balance == 6
    assert [e.cause for e in WalletEntry.objects.order_by("id")] == ["adjustment", "spend", "hold", "release"]


@pytest.mark.django_db
def test_entries_are_append_only(owner):
    entry = wallet_credit(business=owner.business, tokens=5, cause="adjustment", reference="a")
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        WalletEntry.objects.filter(pk=entry.pk).update(tokens=50)
    with pytest.raises(PermissionError):
        WalletEntry.objects.all().delete()


@pytest.mark.django_db
def test_database_rejects_negative_balance_and_non_positive_entries(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(business=owner.business).update(balance=-1)
    wallet = Wallet.objects.get(business=owner.business)
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(wallet=wallet, business=owner.business, kind="credit", tokens=0, balance_after=0, cause="adjustment", reference="zero")


@pytest.mark.django_db
def test_check_wallets_exits_non_zero_on_a_mismatch(owner):
    wallet_credit(business=owner.business, tokens=5, cause="adjustment", reference="a")
    call_command("check_wallets", stdout=StringIO())
    Wallet.objects.filter(business=owner.business).update(balance=7)
    with pytest.raises(CommandError):
        call_command("check_wallets", stdout=StringIO(), stderr=StringIO())
    Wallet.objects.filter(business=owner.business).update(balance=5)


@pytest.mark.django_db
def test_wallet_mismatches_names_each_wrong_wallet_with_its_ledger_in_one_query(make_owner, django_assert_num_queries):
    from wallet.selectors import wallet_mismatches

    good, bad, empty_bad, empty_good = (make_owner() for _ in range(4))
    for owner in (good, bad):
        wallet_credit(business=owner.business, tokens=5, cause="adjustment", reference=f"seed-{owner.pk}")
        wallet_debit(business=owner.business, tokens=2, cause="spend", reference=f"spend-{owner.pk}")
    Wallet.objects.filter(business=bad.business).update(balance=9)
    Wallet.objects.filter(business=empty_bad.business).update(balance=4)
    with django_assert_num_queries(1):
        found = [(w.business_id, w.balance, ledger) for w, ledger in wallet_mismatches()]
    assert found == [(bad.business.pk, 9, 3), (empty_bad.business.pk, 4, 0)]
    assert Wallet.objects.get(business=empty_good.business).balance == 0
    Wallet.objects.filter(business=bad.business).update(balance=3)  # the autouse check must pass
    Wallet.objects.filter(business=empty_bad.business).update(balance=0)


@pytest.mark.django_db
def test_nobody_sees_another_business_wallet(owner, make_owner, daraja):
    accept_push(daraja)
    purchase_id = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json").json()["id"]
    push = TokenPurchase.objects.get().push
    post_callback(Client(), push, success_callback(push))
    stranger = client_for(make_owner())
    assert stranger.get(f"/api/wallet-payment/{purchase_id}").status_code == 404
    assert stranger.get("/api/wallet-payment").json()["count"] == 0
    assert stranger.get("/api/wallet").json()["balance"] == 0
    assert stranger.get("/api/wallet/entries").json()["results"] == []


@pytest.mark.django_db
def test_entries_page_by_cursor_newest_first(owner):
    for i in range(25):
        wallet_credit(business=owner.business, tokens=1, cause="adjustment", reference=f"r{i}")
    api = client_for(owner)
    first = api.get("/api/wallet/entries").json()
    wallet_credit(business=owner.business, tokens=1, cause="adjustment", reference="late")
    second = api.get(first["next"]).json()
    ids = [e["id"] for e in first["results"]] + [e["id"] for e in second["results"]]
    assert len(ids) == 25 and ids == sorted(ids, reverse=True)


@pytest.mark.django_db
def test_superuser_adjustment_goes_through_the_ledger(owner, django_user_model):
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    web = Client()
    web.force_login(root)
    response = web.post("/admin/wallet/walletentry/add/", {"business": owner.business.pk, "kind": "credit", "tokens": 40, "reason": "Goodwill credit"})
    assert response.status_code == 302
    entry = WalletEntry.objects.get()
    assert (entry.cause, entry.tokens, entry.description, entry.author) == ("adjustment", 40, "Goodwill credit", root)
    refused = web.post("/admin/wallet/walletentry/add/", {"business": owner.business.pk, "kind": "debit", "tokens": 41, "reason": "Too much"})
    assert refused.status_code == 200 and WalletEntry.objects.count() == 1
    owner_web = Client()
    owner_web.force_login(owner.user)
    assert owner_web.get("/admin/wallet/walletentry/add/").status_code == 403
    assert "Goodwill credit" in owner_web.get("/admin/wallet/walletentry/").content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_spends_against_ten_exactly_ten_succeed(make_owner):
    owner = make_owner()
    wallet_credit(business=owner.business, tokens=10, cause="adjustment", reference="seed")
    refs = iter(range(1000))
    results = run_parallel(20, lambda: wallet_debit(business=owner.business, tokens=1, cause="spend", reference=f"spend-{next(refs)}"))
    assert sum(isinstance(r, WalletEntry) for r in results) == 10
    assert sum(isinstance(r, InsufficientTokens) for r in results) == 10
    assert Wallet.objects.get(business=owner.business).balance == 0
    assert not WalletEntry.objects.filter(balance_after__lt=0).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_parallel_identical_success_callbacks_thirty_trials_credit_once(make_owner, daraja):
    from wallet.services import token_purchase_start

    owner = make_owner()
    for trial in range(30):
        accept_push(daraja)
        purchase = token_purchase_start(business=owner.business, phone=f"2547111{trial:05d}", amount=7)
        purchase.push.refresh_from_db()
        body = success_callback(purchase.push, receipt=f"W{trial:09d}")
        run_parallel(16, lambda p=purchase.push, b=body: post_callback(Client(), p, b))
        assert WalletEntry.objects.filter(reference=f"purchase:{purchase.public_id}").count() == 1
    assert Wallet.objects.get(business=owner.business).balance == 210


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_refuses_raw_updates_and_deletes_of_ledger_rows(owner):
    from django.db import InternalError, connection

    entry = wallet_credit(business=owner.business, tokens=5, cause="adjustment", reference="raw")
    for sql in ("UPDATE wallet_walletentry SET tokens = 50 WHERE id = %s", "DELETE FROM wallet_walletentry WHERE id = %s"):
        with pytest.raises(InternalError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert WalletEntry.objects.get(pk=entry.pk).tokens == 5
