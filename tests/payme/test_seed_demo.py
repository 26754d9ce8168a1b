"""`manage.py seed_demo` (what `make run` runs first): re-runnable, and its paybill business shows
an invoice paid from the phone menu (C2B) and keeps one open invoice to pay with the simulator."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Business, User
from mpesa.models import C2BReceipt, C2BRegistration
from payment_configs.models import PaymentConfig
from sales.models import Sale

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_twice_gives_one_paybill_business_one_paid_and_one_open_invoice():
    first = _seed()
    second = _seed()

    [business] = Business.objects.filter(name="Baraka Hardware")
    assert User.objects.filter(email="owner@hardware.payme.local").count() == 1
    [config] = PaymentConfig.objects.filter(business=business, is_active=True)
    assert (config.method, config.shortcode, config.verified) == ("paybill", "174379", True)
    [registration] = C2BRegistration.objects.filter(business=business)
    assert (registration.shortcode, registration.status, registration.version) == ("174379", "queued", "v2")

    invoices = Sale.objects.filter(business=business, channel=Sale.Channel.C2B)
    [paid] = invoices.filter(status=Sale.Status.PAID)
    [open_invoice] = invoices.filter(status=Sale.Status.AWAITING_PAYMENT)
    assert invoices.count() == 2
    assert (paid.amount, paid.paybill, paid.needs_review) == (2450, "174379", False)
    assert (open_invoice.amount, open_invoice.paybill) == (1200, "174379")
    [receipt] = C2BReceipt.objects.filter(business=business)
    assert (receipt.status, receipt.amount, receipt.bill_ref_number, receipt.msisdn) == ("matched", 2450, paid.account_number, "2547 ***** 678")
    assert paid.mpesa_receipt == receipt.trans_id

    line = f"Paybill demo owner: owner@hardware.payme.local / Demo-hardware-2026  (paybill 174379, open invoice {open_invoice.account_number} of KES 1200)"
    assert line in first and line in second


def test_seed_demo_opens_a_new_invoice_once_the_open_one_is_paid_or_expired():
    _seed()
    business = Business.objects.get(name="Baraka Hardware")
    Sale.objects.filter(business=business, status=Sale.Status.AWAITING_PAYMENT).update(status=Sale.Status.EXPIRED)
    _seed()
    _seed()
    invoices = Sale.objects.filter(business=business, channel=Sale.Channel.C2B)
    assert sorted(invoices.values_list("status", flat=True)) == ["awaiting_payment", "expired", "paid"]
