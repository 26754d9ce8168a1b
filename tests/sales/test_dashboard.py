import re

import pytest
from django.test import Client
from django.utils import timezone

from mpesa.services import PushResult, stk_push_apply_result
from sales.services import product_create, sale_create
from tests.conftest import setup_till
from wallet.services import wallet_credit


def pay(sale, receipt):
    from mpesa.models import StkPush

    StkPush.objects.filter(pk=sale.push.pk).update(status="pending", checkout_request_id=f"ws_{receipt}")
    stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt=receipt, amount=sale.amount, phone=sale.phone))


@pytest.mark.django_db
def test_owner_admin_index_shows_the_business_at_a_glance(make_owner):
    owner = make_owner(business_name="Alpha Traders")
    other = make_owner(business_name="Bravo Stores")
    for membership in (owner, other):
        setup_till(membership.business)
    wallet_credit(business=owner.business, tokens=750, cause="adjustment", reference="seed")
    unga = product_create(business=owner.business, name="Unga", sku="U", price=230, stock=10)
    pay(sale_create(business=owner.business, phone="254712000001", items=[{"product_id": unga.public_id, "quantity": 2}]), "RCPT00001")
    pay(sale_create(business=owner.business, phone="254712000002", amount=1141), "RCPT00002")
    sale_create(business=owner.business, phone="254712000003", amount=50)  # pending prompt
    pay(sale_create(business=other.business, phone="254712000004", amount=99999), "RCPT00003")

    web = Client()
    web.force_login(owner.user)
    html = web.get("/admin/").content.decode()
    assert "Alpha Traders at a glance" in html and "Bravo Stores" not in html
    assert re.search(r'id="dash-wallet">750 tokens<', html)
    assert re.search(r'id="dash-today">KES 1,601<', html)
    assert re.search(r'id="dash-week">KES 1,601<', html)
    assert re.search(r'id="dash-pending">1<', html)
    assert "Till 1234567: Not verified yet" in html
    bars = re.findall(r'class="dash-bar" data-day="[\d-]+" data-total="(\d+)"', html)
    assert len(bars) == 14 and bars[-1] == "1601" and set(bars[:-1]) == {"0"}
    assert "99,999" not in html


@pytest.mark.django_db
def test_the_superuser_index_is_the_platform_not_a_business_and_sums_no_wallets(make_owner, django_user_model):
    for name, tokens in (("Alpha Traders", 750), ("Bravo Stores", 250)):
        membership = make_owner(business_name=name)
        setup_till(membership.business)
        wallet_credit(business=membership.business, tokens=tokens, cause="adjustment", reference=f"seed-{name}")
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    web = Client()
    web.force_login(root)

    html = web.get("/admin/").content.decode()

    assert '<h1 id="index-title">PayMe platform</h1>' in html and "<title>PayMe platform | PayMe</title>" in html
    assert "Your business" not in html and "Wallet balance" not in html and "1000 tokens" not in html
    assert re.search(r'id="dash-businesses">2<', html)
    assert "0 of 2 verified" in html
    assert "All businesses at a glance" in html


@pytest.mark.django_db
def test_the_owner_index_is_titled_your_business(make_owner):
    owner = make_owner(business_name="Alpha Traders")
    web = Client()
    web.force_login(owner.user)
    html = web.get("/admin/").content.decode()
    assert '<h1 id="index-title">Your business</h1>' in html


@pytest.mark.django_db
def test_paid_today_counts_c2b_money_once(make_owner):
    from sales.services import invoice_create
    from tests.conftest import setup_paybill
    from tests.mpesa.test_c2b import confirmation, make_registration, post

    owner = make_owner(business_name="Charlie Hardware")
    setup_paybill(owner.business)
    registration = make_registration(owner.business)
    invoice = invoice_create(business=owner.business, amount=300)
    now = timezone.localtime().strftime("%Y%m%d%H%M%S")
    client = Client()
    post(client, registration, confirmation(TransID="C2BPAID001", TransTime=now, TransAmount="300.00", BillRefNumber=invoice.account_number))
    post(client, registration, confirmation(TransID="C2BFREE001", TransTime=now, TransAmount="45.00", BillRefNumber=""))
    post(client, registration, confirmation(TransID="C2BCENT001", TransTime=now, TransAmount="9.50", BillRefNumber=""))

    web = Client()
    web.force_login(owner.user)
    html = web.get("/admin/").content.decode()
    assert re.search(r'id="dash-today">KES 345<', html)
    assert re.search(r'id="dash-week">KES 345<', html)
