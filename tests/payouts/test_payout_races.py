"""Concurrency on PostgreSQL (row locks only bite there): the daily maximum, the refundable
amount and duplicate results under parallel requests."""

import json

import pytest
from django.test import Client

from mpesa.services import PushResult, stk_push_apply_result
from payouts.models import Payout
from payouts.services import payout_request, refund_request
from sales.models import Sale
from sales.services import sale_create
from tests.conftest import run_parallel, setup_till
from tests.payouts.test_payouts_api import REVERSAL, ack, b2c_result, reversal_result, setup_payouts

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_parallel_payouts_cannot_pass_the_daily_maximum_together(make_owner, daraja):
    owner = make_owner()
    setup_payouts(owner.business, daily_max=1_000, approval_threshold=100_000)
    ack(daraja)
    results = run_parallel(8, lambda: payout_request(business=owner.business, user=owner.user, phone="254705912645",
                                                     amount=300, remarks="Parallel"))
    codes = sorted(getattr(r, "code", "ok") for r in results)
    assert codes == ["daily_limit_exceeded"] * 5 + ["ok"] * 3
    assert sum(Payout.objects.values_list("amount", flat=True)) == 900


def test_parallel_refunds_cannot_refund_more_than_was_paid(make_owner, daraja):
    owner = make_owner()
    setup_till(owner.business)
    setup_payouts(owner.business)
    ack(daraja)
    sale = sale_create(business=owner.business, phone="254722999888", amount=1000)
    stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt="NLJ7RT61SV", amount=1000, phone=sale.phone))
    results = run_parallel(6, lambda: refund_request(business=owner.business, user=owner.user, sale_id=sale.public_id, amount=300))
    codes = sorted(getattr(r, "code", "ok") for r in results)
    assert codes == ["ok"] * 3 + ["refund_exceeds_paid"] * 3
    assert sum(Payout.objects.values_list("amount", flat=True)) == 900


def test_parallel_duplicate_results_are_applied_once(make_owner, daraja):
    owner = make_owner()
    setup_payouts(owner.business)
    ack(daraja)
    payout_request(business=owner.business, user=owner.user, phone="254705912645", amount=500, remarks="Once")
    command = Payout.objects.get().daraja_command
    body = json.dumps(b2c_result(command))
    answers = run_parallel(8, lambda: Client().post(f"/api/daraja/callback/{command.callback_token}/", data=body,
                                                      content_type="application/json").status_code)
    assert answers == [200] * 8
    payout = Payout.objects.get()
    assert (payout.status, payout.receipt) == ("succeeded", "SG632NMUAB")
    outcomes = sorted(command.deliveries.values_list("outcome", flat=True))
    assert outcomes == ["applied"] + ["duplicate"] * 7


def test_parallel_reversal_results_refund_once(make_owner, daraja):
    owner = make_owner()
    setup_till(owner.business)
    setup_payouts(owner.business)
    ack(daraja, REVERSAL)
    sale = sale_create(business=owner.business, phone="254722999888", amount=800)
    stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt="NLJ7RT61SV", amount=800, phone=sale.phone))
    refund_request(business=owner.business, user=owner.user, sale_id=sale.public_id)
    command = Payout.objects.get().daraja_command
    body = json.dumps(reversal_result(command, 800))
    run_parallel(6, lambda: Client().post(f"/api/daraja/callback/{command.callback_token}/", data=body, content_type="application/json"))
    sale = Sale.objects.get()
    assert (sale.status, sale.refunded_amount) == ("refunded", 800)
