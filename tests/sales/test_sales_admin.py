"""The owners' sales pages: newest first, the reason on screen, plain words on a sale's page."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from mpesa.models import StkPush
from mpesa.services import PushResult, stk_push_apply_result
from sales.models import Sale
from sales.services import product_create, sale_create
from tests.conftest import setup_till


def settle(sale, code, receipt=None, desc="done"):
    StkPush.objects.filter(pk=sale.push.pk).update(status="pending", checkout_request_id=f"ws_{sale.pk}_{code}")
    stk_push_apply_result(
        push_id=sale.push.pk,
        result=PushResult(code, desc, receipt=receipt, amount=sale.amount if receipt else None, phone=sale.phone if receipt else None),
    )
    sale.refresh_from_db()
    return sale


def backdate(sale, days):
    Sale.objects.filter(pk=sale.pk).update(created_at=timezone.now() - timedelta(days=days))


@pytest.fixture
def shop(make_owner):
    owner = make_owner(business_name="Alpha Traders")
    setup_till(owner.business)
    web = Client()
    web.force_login(owner.user)
    return owner, web


@pytest.mark.django_db
def test_the_sales_list_is_newest_first_with_the_reason_and_no_business_column(shop):
    owner, web = shop
    # Created in an order that differs from the date order: the list must follow the dates.
    old = settle(sale_create(business=owner.business, phone="254712000001", amount=100), "0", receipt="RCPTOLD001")
    newest = settle(sale_create(business=owner.business, phone="254712000002", amount=200), "1032")
    middle = settle(sale_create(business=owner.business, phone="254712000003", amount=300), "1", desc="The balance is insufficient for the transaction.")
    backdate(old, 3)
    backdate(middle, 1)

    html = web.get("/admin/sales/sale/").content.decode()

    rows = [unescape(row) for row in re.findall(r"<tr>.*?</tr>", html.split("<tbody>")[1], flags=re.S)]
    amounts = [re.search(r"KES\xa0([\d,]+)", row).group(1) for row in rows]
    assert amounts == ["200", "300", "100"]
    assert "The customer cancelled the M-Pesa prompt." in rows[0]
    assert middle.reason and middle.reason in rows[1]
    assert "Paid. M-Pesa receipt RCPTOLD001." in rows[2]
    assert "Alpha Traders" not in html.split("<tbody>")[1]
    assert "column-business" not in html
    assert newest.status == "cancelled"


@pytest.mark.django_db
def test_superusers_see_which_business_each_sale_belongs_to(shop, django_user_model):
    owner, _ = shop
    sale_create(business=owner.business, phone="254712000001", amount=100)
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    web = Client()
    web.force_login(root)
    html = web.get("/admin/sales/sale/").content.decode()
    assert "column-business" in html and "Alpha Traders" in html


@pytest.mark.django_db
def test_an_ad_hoc_sale_page_says_what_happened_and_when_without_an_items_table(shop):
    owner, web = shop
    sale = settle(sale_create(business=owner.business, phone="254712000009", amount=1141, user=owner.user), "1032")
    created = timezone.localtime(sale.created_at)

    html = web.get(f"/admin/sales/sale/{sale.pk}/change/").content.decode()

    assert f"{created.day} {created:%b %Y, %H:%M}" in html
    assert "The customer cancelled the M-Pesa prompt." in unescape(html)
    assert "A typed amount, no products." in html
    assert 'id="sale-items"' not in html and "Sale items" not in html
    for jargon in ("review_reason", "No stock (ad-hoc amount)", "Stock state", "Needs review"):
        assert jargon not in html, jargon


@pytest.mark.django_db
def test_a_product_sale_page_lists_its_items_and_where_the_stock_went(shop):
    owner, web = shop
    unga = product_create(business=owner.business, name="Unga 2kg", sku="U", price=230, stock=10)
    sale = settle(sale_create(business=owner.business, phone="254712000008", items=[{"product_id": unga.public_id, "quantity": 2}]), "0", receipt="RCPTITEM01")

    html = web.get(f"/admin/sales/sale/{sale.pk}/change/").content.decode()

    assert re.search(r'<table id="sale-items">.*Unga 2kg.*<td>2</td>.*KES\xa0230.*KES\xa0460', html, flags=re.S)
    assert "Stock: Taken from stock." in html
    assert "RCPTITEM01" in html


@pytest.mark.django_db
def test_a_flagged_sale_says_why_in_plain_words(shop):
    owner, web = shop
    sale = sale_create(business=owner.business, phone="254712000007", amount=500)
    Sale.objects.filter(pk=sale.pk).update(needs_review=True, review_reason="Paid after the prompt had expired.")

    html = web.get("/admin/sales/sale/?review=yes").content.decode()
    assert "(flagged)" in html and "Needs a look: Paid after the prompt had expired." in html


@pytest.mark.django_db
def test_another_business_sale_page_is_not_found(shop, make_owner):
    _, web = shop
    other = make_owner(business_name="Bravo Stores")
    setup_till(other.business)
    sale = sale_create(business=other.business, phone="254712000006", amount=100)
    response = web.get(f"/admin/sales/sale/{sale.pk}/change/", follow=True)
    assert "Bravo Stores" not in response.content.decode() and "254712000006" not in response.content.decode()
