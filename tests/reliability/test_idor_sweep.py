"""Every URL pattern and method, with tenant B's token and with none, against tenant A's objects:
only 401/403/404/405 (and B's own, empty-of-A data on B's collections); no value of A's in any body."""

import json
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework_simplejwt.tokens import RefreshToken

from mpesa.c2b import c2b_receipt_record, parse_confirmation
from mpesa.services import PushResult, stk_push_apply_result
from payouts.services import payout_config_setup, payout_request
from sales.services import product_create, sale_create
from tests.conftest import setup_till
from tests.mpesa.test_c2b import confirmation, make_registration
from wallet.services import token_purchase_create
from webhooks.models import WebhookDelivery
from webhooks.services import event_emit, webhook_endpoint_create

METHODS = ("get", "post", "patch", "put", "delete")
PUBLIC = ("api/auth/sign-up", "api/auth/sign-in", "api/auth/token/refresh", "api/auth/sign-out", "api/schema", "api/docs")


def api_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        regex = prefix + entry.pattern.regex.pattern.lstrip("^")
        if isinstance(entry, URLResolver):
            yield from api_patterns(entry, regex)
        elif isinstance(entry, URLPattern) and regex.startswith("api/"):
            yield regex


def concrete(regex, ids):
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: ids[m.group(1)], regex)
    return "/" + path.replace("/?$", "/").replace("$", "").replace("\\", "")


@pytest.mark.django_db
def test_no_tenant_sees_or_touches_another_tenants_objects(make_owner):
    a = make_owner(business_name="Alpha Secret Traders", phone="254722333444")
    b = make_owner(business_name="Bravo Stores", phone="254733444555")
    setup_till(a.business, account_reference="ALPHAREF", account_name="Alpha Till Name")
    product = product_create(business=a.business, name="Alpha Widget", sku="ALPHA-SKU", price=99, stock=7)
    sale = sale_create(business=a.business, phone="254722999888", items=[{"product_id": product.public_id, "quantity": 1}])
    stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt="ALPHARCPT1", amount=sale.amount, phone=sale.phone))
    purchase = token_purchase_create(business=a.business, phone="254722333444", amount=55)
    registration = make_registration(a.business, shortcode="7654321")
    c2b_payment = c2b_receipt_record(
        registration=registration, raw={},
        payment=parse_confirmation(confirmation(TransID="ALPHAC2B01", BusinessShortCode="7654321", BillRefNumber="ALPHAACCT"), registration),
    )
    payout_config_setup(business=a.business, shortcode="600996", initiator_name="alphainitiator",
                        initiator_password="Alpha-Initiator-Pw1", approval_threshold=10)
    payout = payout_request(business=a.business, user=a.user, phone="254722777666", amount=77, remarks="Alpha supplier")
    endpoint, _ = webhook_endpoint_create(business=a.business, url="https://8.8.8.8/alpha-hooks", events=["sale.paid"], description="Alpha ERP")
    with transaction.atomic():
        event_emit(business=a.business, type="sale.paid", data={"object": "sale", "id": str(sale.public_id)})
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    ids = {"product_id": str(product.public_id), "sale_id": str(sale.public_id), "purchase_id": str(purchase.public_id),
           "payment_id": str(c2b_payment.public_id), "token": sale.push.callback_token, "payout_id": str(payout.public_id),
           "endpoint_id": str(endpoint.public_id), "delivery_id": str(delivery.public_id)}
    secrets_of_a = [a.business.name, str(a.business.public_id), a.user.email, "ALPHA-SKU", "Alpha Widget", "ALPHARCPT1",
                    "ALPHAREF", "Alpha Till Name", str(product.public_id), str(sale.public_id), str(purchase.public_id), "254722999888",
                    "ALPHAC2B01", "ALPHAACCT", str(c2b_payment.public_id),
                    str(payout.public_id), "alphainitiator", "Alpha-Initiator-Pw1", "254722777666", "Alpha supplier",
                    "alpha-hooks", "Alpha ERP", str(endpoint.public_id), str(delivery.public_id)]
    b_token = str(RefreshToken.for_user(b.user).access_token)

    checked = 0
    for regex in sorted(set(api_patterns())):
        if regex.startswith(PUBLIC) or "daraja/callback" in regex or regex == "api/":
            continue
        url = concrete(regex, ids)
        object_url = any(name in regex for name in ("product_id", "sale_id", "purchase_id", "payment_id", "payout_id", "endpoint_id", "delivery_id"))
        for method in METHODS:
            for headers in ({}, {"HTTP_AUTHORIZATION": f"Bearer {b_token}"}):
                if method in ("get", "delete"):
                    response = getattr(Client(), method)(url, **headers)
                else:
                    response = getattr(Client(), method)(url, data=json.dumps({}), content_type="application/json", **headers)
                body = response.content.decode()
                checked += 1
                if not headers:
                    assert response.status_code in (401, 405), (method, url, response.status_code)
                elif object_url:
                    assert response.status_code in (403, 404, 405), (method, url, response.status_code, body[:200])
                else:
                    assert response.status_code < 500, (method, url, response.status_code)
                for value in secrets_of_a:
                    assert value not in body, (method, url, value)
    assert checked > 100
    swept = set(api_patterns())
    assert any("payout_id" in r and r.rstrip("/?$").endswith("timeline") for r in swept)  # the payout's timeline is swept
    assert any("sale_id" in r and r.rstrip("/?$").endswith("timeline") for r in swept)
    # Nothing of A's was changed by any of it.
    product.refresh_from_db()
    assert (product.name, product.price, product.stock, product.is_active) == ("Alpha Widget", 99, 6, True)
    c2b_payment.refresh_from_db()
    assert (c2b_payment.status, c2b_payment.amount) == ("unmatched", 5)
    payout.refresh_from_db()
    assert (payout.status, payout.approved_by_id, payout.rejected_by_id) == ("awaiting_approval", None, None)
    from payouts.models import Payout
    from sales.models import Sale

    assert Payout.objects.count() == 1 and Sale.objects.get(pk=sale.pk).status == "paid"
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.deleted_at, endpoint.url) == (True, None, "https://8.8.8.8/alpha-hooks")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
