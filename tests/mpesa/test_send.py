"""The worker's half of starting a payment (mpesa.services.stk_push_send and the sweep): a push is
claimed once, sent once, and never resent; what the broker lost is found in the database."""

import logging
from datetime import timedelta
from unittest import mock

import pytest
import responses
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from mpesa.models import StkPush
from mpesa.services import stk_push_send, stk_push_sweep
from sales.models import Product, Sale
from sales.services import product_create, sale_create
from tests.conftest import (
    DARAJA,
    accept_push,
    client_for,
    run_parallel,
    run_worker,
    setup_till,
    tasks_through_the_broker,
)
from wallet.services import token_purchase_create

PUSH_URL = f"{DARAJA}/mpesa/stkpush/v1/processrequest"


def pushes_sent(mock_):
    return len([c for c in mock_.calls if c.request.url == PUSH_URL])


def recorded_purchase(owner, phone="254708374149"):
    return token_purchase_create(business=owner.business, phone=phone, amount=10)


def set_times(push, **ages):
    now = timezone.now()
    StkPush.objects.filter(pk=push.pk).update(**{name: now - timedelta(seconds=seconds) for name, seconds in ages.items()})


@pytest.mark.django_db
def test_a_second_delivery_of_the_send_task_sends_nothing(owner, daraja):
    push = recorded_purchase(owner).push
    accept_push(daraja, "ws_CO_ONCE")
    first = stk_push_send(push_id=push.pk)
    second = stk_push_send(push_id=push.pk)
    assert (first.status, first.checkout_request_id, second) == ("pending", "ws_CO_ONCE", None)
    assert pushes_sent(daraja) == 1
    assert first.raw_request["AccountReference"] == "37605544" and "Password" not in first.raw_request


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_send_task_prompt_the_phone_once(make_owner, daraja):
    owner = make_owner()
    push = recorded_purchase(owner).push
    accept_push(daraja)
    results = run_parallel(8, lambda: stk_push_send(push_id=push.pk))
    assert sorted(r.status if r is not None else "none" for r in results) == ["none"] * 7 + ["pending"]
    assert pushes_sent(daraja) == 1


@pytest.mark.django_db
def test_send_refuses_to_run_inside_a_transaction(owner):
    push = recorded_purchase(owner).push
    with pytest.raises(RuntimeError), transaction.atomic():
        stk_push_send(push_id=push.pk)
    assert StkPush.objects.get(pk=push.pk).status == "created"


@pytest.mark.django_db
def test_a_push_not_sent_within_the_window_expires_unsent_and_releases_the_sale(owner, daraja):
    setup_till(owner.business)
    product = product_create(business=owner.business, name="Unga", sku="UNGA", price=230, stock=5)
    sale = sale_create(business=owner.business, phone="254708374149", items=[{"product_id": product.public_id, "quantity": 2}])
    assert Product.objects.get(pk=product.pk).stock == 3
    set_times(sale.push, created_at=settings.MPESA_SEND_MAX_DELAY_SECONDS + 5)
    assert stk_push_send(push_id=sale.push.pk) is None
    assert pushes_sent(daraja) == 0
    sale = Sale.objects.get(pk=sale.pk)
    assert (sale.status, sale.stock_state, sale.push.status, sale.push.result_code) == ("expired", "released", "expired", "not_sent")
    assert sale.reason == "PayMe could not send the prompt in time, so the customer was never asked to pay. Try again."
    assert Product.objects.get(pk=product.pk).stock == 5


@pytest.mark.django_db
def test_missing_credentials_fail_the_push_without_calling_daraja(owner, daraja):
    setup_till(owner.business)
    sale = sale_create(business=owner.business, phone="254708374149", amount=50)
    StkPush.objects.filter(pk=sale.push.pk).update(shortcode="1111111")  # no config built this push
    pushed = stk_push_send(push_id=sale.push.pk)
    assert (pushed.status, pushed.result_code) == ("failed", "invalid_request")
    assert Sale.objects.get(pk=sale.pk).status == "failed" and len(daraja.calls) == 0


@pytest.mark.django_db
def test_sweep_sends_pushes_whose_enqueue_was_lost_and_leaves_young_ones(owner, daraja):
    lost = recorded_purchase(owner, "254708374149").push
    young = recorded_purchase(owner, "254708374150").push
    set_times(lost, created_at=settings.MPESA_SEND_SWEEP_AFTER_SECONDS + 1)
    accept_push(daraja)
    with run_worker():
        counts = stk_push_sweep()
    assert counts == {"reenqueued": 1, "abandoned": 0}
    assert (StkPush.objects.get(pk=lost.pk).status, StkPush.objects.get(pk=young.pk).status) == ("pending", "created")
    assert pushes_sent(daraja) == 1


@pytest.mark.django_db
def test_sweep_makes_a_push_abandoned_mid_send_unknown_and_never_resends_it(owner, daraja):
    abandoned = recorded_purchase(owner, "254708374149").push
    busy = recorded_purchase(owner, "254708374150").push
    StkPush.objects.filter(pk__in=[abandoned.pk, busy.pk]).update(status="sending")
    set_times(abandoned, sent_at=settings.MPESA_SENDING_STALE_SECONDS + 1, created_at=settings.MPESA_SENDING_STALE_SECONDS + 2)
    set_times(busy, sent_at=5)
    with run_worker():
        assert stk_push_sweep() == {"reenqueued": 0, "abandoned": 1}
        assert stk_push_sweep() == {"reenqueued": 0, "abandoned": 0}
    abandoned = StkPush.objects.get(pk=abandoned.pk)
    assert (abandoned.status, abandoned.result_desc) == ("unknown", "The worker stopped while sending; settled by callback or query.")
    assert StkPush.objects.get(pk=busy.pk).status == "sending"
    assert stk_push_send(push_id=abandoned.pk) is None and len(daraja.calls) == 0


@pytest.mark.django_db
def test_an_answer_arriving_after_the_sweep_called_it_unknown_still_makes_it_pending(owner, daraja):
    push = recorded_purchase(owner).push

    def slow_accept(request):
        StkPush.objects.filter(pk=push.pk).update(status="unknown")  # the sweep ran meanwhile
        return (200, {}, '{"MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_LATE", "ResponseCode": "0", "ResponseDescription": "ok", "CustomerMessage": "ok"}')

    daraja.add_callback(responses.POST, PUSH_URL, callback=slow_accept)
    sent = stk_push_send(push_id=push.pk)
    assert (sent.status, sent.checkout_request_id) == ("pending", "ws_CO_LATE")


@pytest.mark.django_db
def test_a_callback_that_beats_the_recorded_acceptance_is_kept(owner, daraja):
    """A fast customer: the success callback lands while the worker still holds Daraja's answer."""
    from tests.conftest import post_callback, success_callback

    push = recorded_purchase(owner).push

    def accept_after_the_callback(request):
        StkPush.objects.filter(pk=push.pk).update(checkout_request_id="ws_CO_FAST")
        paid = StkPush.objects.get(pk=push.pk)
        assert post_callback(Client(), paid, success_callback(paid, receipt="FAST000001")).status_code == 200
        return (200, {}, '{"MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_FAST", "ResponseCode": "0", "ResponseDescription": "ok", "CustomerMessage": "ok"}')

    daraja.add_callback(responses.POST, PUSH_URL, callback=accept_after_the_callback)
    sent = stk_push_send(push_id=push.pk)
    assert (sent.status, sent.mpesa_receipt) == ("succeeded", "FAST000001")


@pytest.mark.django_db
def test_a_broker_that_is_down_does_not_fail_the_start_and_the_sweep_sends_it_later(owner, daraja, caplog):
    from kombu.exceptions import OperationalError

    from mpesa.tasks import stk_push_send_task

    api = client_for(owner)
    # What Celery raises when the broker cannot take a message (connection refused, retries spent).
    broker_down = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch.object(stk_push_send_task, "delay", side_effect=broker_down):
        with caplog.at_level(logging.ERROR, logger="mpesa.services"):
            response = api.post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 10}, format="json")
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    push = StkPush.objects.get()
    assert push.status == "created" and "it is picked up later" in caplog.text
    set_times(push, created_at=settings.MPESA_SEND_SWEEP_AFTER_SECONDS + 1)
    accept_push(daraja)
    with run_worker():
        stk_push_sweep()
    assert StkPush.objects.get().status == "pending" and pushes_sent(daraja) == 1


@pytest.mark.django_db
def test_no_request_calls_daraja_the_worker_does(owner, daraja):
    accept_push(daraja)
    with tasks_through_the_broker():
        response = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 10}, format="json")
    assert response.status_code == 202 and len(daraja.calls) == 0
    assert StkPush.objects.get().status == "created"


def test_beat_runs_the_sweep_reconciliation_and_wallet_checks_on_their_intervals():
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {name: schedule[name] for name in ("mpesa.stk_push_sweep", "mpesa.stk_push_reconcile", "wallet.check_wallets")} == {
        "mpesa.stk_push_sweep": settings.MPESA_SWEEP_INTERVAL_SECONDS,
        "mpesa.stk_push_reconcile": settings.MPESA_RECONCILE_INTERVAL_SECONDS,
        "wallet.check_wallets": settings.WALLET_CHECK_INTERVAL_SECONDS,
    }
    from payme.celery import app

    app.loader.import_default_modules()
    assert set(schedule) | {"mpesa.stk_push_send", "mpesa.stk_push_confirm"} <= set(app.tasks)


def test_the_read_timeout_answer_budget_fits_inside_the_stale_window():
    # A live worker is never declared dead: token + push, each within connect + read.
    assert settings.MPESA_SENDING_STALE_SECONDS > 2 * (settings.MPESA_CONNECT_TIMEOUT + settings.MPESA_READ_TIMEOUT)
