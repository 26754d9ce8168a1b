"""The owner's C2B payments in the admin: list, attach to an invoice, leave; another business's is a 404."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from mpesa.models import C2BReceipt
from sales.models import Sale
from sales.services import invoice_create
from tests.conftest import setup_paybill
from tests.mpesa.test_c2b import confirmation, make_registration, post


@pytest.fixture
def setup(owner):
    setup_paybill(owner.business)
    registration = make_registration(owner.business)
    invoice = invoice_create(business=owner.business, amount=5)
    post(Client(), registration, confirmation(TransactionType="Buy Goods", BillRefNumber="", MSISDN="2547 ***** 149"))
    web = Client()
    web.force_login(owner.user)
    return web, C2BReceipt.objects.get(), invoice


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_the_owner_attaches_an_unmatched_payment_to_an_invoice(setup):
    web, receipt, invoice = setup
    listing = web.get("/admin/mpesa/c2breceipt/?status__exact=unmatched").content.decode()
    assert "RKL51ZDR4F" in listing and "NICHOLAS (2547 ***** 149)" in listing
    page = web.get(f"/admin/mpesa/c2breceipt/{receipt.pk}/change/").content.decode()
    assert f'href="/admin/mpesa/c2breceipt/{receipt.pk}/match/" id="match-payment"' in page
    form = web.get(f"/admin/mpesa/c2breceipt/{receipt.pk}/match/").content.decode()
    assert invoice.account_number in form
    response = web.post(f"/admin/mpesa/c2breceipt/{receipt.pk}/match/", {"sale": invoice.pk}, follow=True)
    assert messages_of(response) == [f"Payment RKL51ZDR4F now pays invoice {invoice.account_number}."]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.mpesa_receipt) == (Sale.Status.PAID, "RKL51ZDR4F")


@pytest.mark.django_db
def test_the_owner_leaves_a_payment_unmatched(setup):
    web, receipt, _ = setup
    response = web.post("/admin/mpesa/c2breceipt/", {"action": "leave_unmatched", "_selected_action": [receipt.pk]}, follow=True)
    assert messages_of(response) == ["1 payment left unmatched."]
    assert C2BReceipt.objects.get().status == "left"


@pytest.mark.django_db
def test_another_business_cannot_see_or_attach_the_payment(setup, make_owner):
    _, receipt, invoice = setup
    other = make_owner()
    web = Client()
    web.force_login(other.user)
    assert web.get(f"/admin/mpesa/c2breceipt/{receipt.pk}/change/").status_code in (302, 404)
    assert web.post(f"/admin/mpesa/c2breceipt/{receipt.pk}/match/", {"sale": invoice.pk}).status_code == 404
    assert "RKL51ZDR4F" not in web.get("/admin/mpesa/c2breceipt/").content.decode()
    assert C2BReceipt.objects.get().status == "unmatched"


@pytest.mark.django_db
def test_invoices_show_their_account_number_in_the_sales_list(setup):
    web, _, invoice = setup
    html = web.get("/admin/sales/sale/?channel__exact=c2b").content.decode()
    assert f"Invoice: waiting for the customer to pay paybill 174379, account {invoice.account_number}." in html
