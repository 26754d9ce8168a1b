import base64
import json
import logging

import pytest
import responses
from django.core.management import call_command
from django.db import connection
from django.test import Client

from mpesa import outcomes
from payment_configs.models import PaymentConfig
from payment_configs.selectors import daraja_credentials_for
from tests.conftest import (
    DARAJA,
    accept_push,
    client_for,
    error_of,
    failure_callback,
    post_callback,
    run_worker,
    sent_body,
    setup_till,
    success_callback,
)

PASSKEY = "SENTINEL-PASSKEY-7f3a9c"
SECRET = "SENTINEL-CONSUMER-SECRET-91be"
KEY = "SENTINEL-CONSUMER-KEY-55aa"
TILL = {"method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": PASSKEY, "account_reference": "SHOP1", "account_name": "Shop"}


@pytest.fixture(autouse=True)
def _sentinels_never_logged(caplog):
    """Every log line any test here produces, at every level, is free of the secrets."""
    caplog.set_level(logging.DEBUG)
    yield
    for sentinel in (PASSKEY, SECRET, KEY):
        assert sentinel not in caplog.text


PAYBILL = {"method": "paybill", "shortcode": "600100", "passkey": PASSKEY, "account_reference": "ACC1", "account_name": "Paybill"}


@pytest.mark.django_db
def test_setup_till_returns_config_without_secrets(owner):
    response = client_for(owner).post("/api/payment-config/setup", {**TILL, "consumer_key": KEY, "consumer_secret": SECRET}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["method"] == "till" and body["shortcode"] == "7654321" and body["till_number"] == "1234567"
    assert body["transaction_type"] == "CustomerBuyGoodsOnline"
    assert body["passkey_set"] is True and body["uses_own_daraja_app"] is True
    assert body["verified"] is False and body["verification_status"] == "not_started"
    text = json.dumps(body)
    for sentinel in (PASSKEY, SECRET, KEY):
        assert sentinel not in text
    assert "passkey" not in body and "consumer_secret" not in body
    assert client_for(owner).get("/api/auth/me").json()["setup_needed"] is False


@pytest.mark.django_db
def test_replacing_deactivates_the_old_config_and_keeps_it(owner):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    api.post("/api/payment-config/setup", PAYBILL, format="json")
    configs = PaymentConfig.objects.filter(business=owner.business).order_by("id")
    assert [(c.method, c.is_active) for c in configs] == [("till", False), ("paybill", True)]
    assert api.get("/api/payment-config").json()["method"] == "paybill"


@pytest.mark.django_db
def test_patch_blank_passkey_keeps_it_and_new_one_replaces_it(owner):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    kept = api.patch("/api/payment-config", {"passkey": "", "account_name": "Renamed"}, format="json")
    assert kept.status_code == 200 and kept.json()["account_name"] == "Renamed"
    config = PaymentConfig.objects.get(is_active=True)
    assert config.passkey.reveal() == PASSKEY
    api.patch("/api/payment-config", {"passkey": "NEW-PASSKEY"}, format="json")
    assert PaymentConfig.objects.get(is_active=True).passkey.reveal() == "NEW-PASSKEY"


@pytest.mark.django_db
def test_patch_to_paybill_drops_the_till_number(owner):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    body = api.patch("/api/payment-config", {"method": "paybill"}, format="json").json()
    assert body["method"] == "paybill" and body["till_number"] is None


@pytest.mark.django_db
def test_delete_deactivates(owner):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    assert api.delete("/api/payment-config").status_code == 204
    assert PaymentConfig.objects.get().is_active is False
    missing = api.get("/api/payment-config")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "payment_config_missing"
    assert missing.json()["error"]["setup_url"] == "/api/payment-config/setup"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({**TILL, "till_number": ""}, "till_number"),
        ({k: v for k, v in TILL.items() if k != "till_number"}, "till_number"),
        ({**PAYBILL, "till_number": "1234567"}, "till_number"),
        ({**TILL, "shortcode": "1234"}, "shortcode"),
        ({**TILL, "shortcode": "12345678"}, "shortcode"),
        ({**TILL, "shortcode": "12a456"}, "shortcode"),
        ({**TILL, "account_reference": "THIRTEENCHARS"}, "account_reference"),
        ({**TILL, "account_reference": "SHOP-1"}, "account_reference"),
        ({k: v for k, v in TILL.items() if k != "passkey"}, "passkey"),
        ({**TILL, "passkey": ""}, "passkey"),
        ({**TILL, "method": "bank"}, "method"),
        ({**TILL, "consumer_key": "only-key"}, "consumer_secret"),
        ({**TILL, "till_number": TILL["shortcode"]}, "till_number"),
    ],
)
def test_bad_setup_input_is_400_naming_the_field_and_writes_nothing(owner, body, field):
    response = client_for(owner).post("/api/payment-config/setup", body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert field in error["fields"], error
    assert PassKeyLeak.none(response)
    assert PaymentConfig.objects.count() == 0


class PassKeyLeak:
    @staticmethod
    def none(response):
        return PASSKEY not in response.content.decode()


@pytest.mark.django_db
def test_database_column_holds_no_plaintext(owner):
    client_for(owner).post("/api/payment-config/setup", {**TILL, "consumer_key": KEY, "consumer_secret": SECRET}, format="json")
    with connection.cursor() as cursor:
        cursor.execute("SELECT passkey, consumer_key, consumer_secret FROM payment_configs_paymentconfig")
        row = cursor.fetchone()
    for stored, sentinel in zip(row, (PASSKEY, KEY, SECRET), strict=True):
        assert stored.startswith("fernet:") and sentinel not in stored


@pytest.mark.django_db
def test_rotation_reencrypts_every_row_and_old_key_can_then_be_dropped(owner, make_owner, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    setup_till(owner.business, passkey="P-ONE", consumer_key="K-ONE", consumer_secret="S-ONE")
    setup_till(make_owner().business, passkey="P-TWO")
    new_key = "LB1EFYKV8kp1FUJdY8PRWoEs_iEo5PqsbaVi1-6YxOM="
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    from io import StringIO

    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Done: 4 value(s) in 2 row(s) re-encrypted." in out.getvalue()
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)  # safe to re-run: nothing left to do
    assert "Done: 0 value(s) in 0 row(s) re-encrypted." in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    passkeys = sorted(c.passkey.reveal() for c in PaymentConfig.objects.all())
    assert passkeys == ["P-ONE", "P-TWO"]
    config = PaymentConfig.objects.get(business=owner.business)
    assert (config.consumer_key.reveal(), config.consumer_secret.reveal()) == ("K-ONE", "S-ONE")


@pytest.mark.django_db
def test_own_daraja_app_is_used_when_set_and_platform_app_otherwise(owner, make_owner, daraja, settings):
    from sales.services import sale_start

    own = setup_till(owner.business, consumer_key="own-key", consumer_secret="own-secret")
    other = make_owner()
    setup_till(other.business)
    for business, phone in [(owner.business, "254708374149"), (other.business, "254712345678"), (other.business, "254712345679")]:
        accept_push(daraja)
        with run_worker():
            sale_start(business=business, phone=phone, amount=10)
    oauth = [c.request.headers["Authorization"] for c in daraja.calls if "/oauth/" in c.request.url]
    assert oauth == [
        "Basic " + base64.b64encode(b"own-key:own-secret").decode(),
        "Basic " + base64.b64encode(f"{settings.MPESA_CONSUMER_KEY}:{settings.MPESA_CONSUMER_SECRET}".encode()).decode(),
    ]
    assert daraja_credentials_for(own)[0].consumer_key == "own-key"


@pytest.mark.django_db
def test_verify_success_marks_verified(owner, daraja):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    accept_push(daraja)
    response = api.post("/api/payment-config/verify", {}, format="json")
    assert response.status_code == 202
    assert response.json()["amount"] == 1 and response.json()["phone"] == owner.business.phone
    assert response.json()["config"]["verification_status"] == "pending"
    body = sent_body(daraja)
    assert (body["Amount"], body["TransactionType"], body["BusinessShortCode"], body["PartyB"]) == (1, "CustomerBuyGoodsOnline", "7654321", "1234567")
    assert base64.b64decode(body["Password"]).decode() == f"7654321{PASSKEY}{body['Timestamp']}"
    push = PaymentConfig.objects.get().last_verification_push
    post_callback(Client(), push, success_callback(push))
    config = api.get("/api/payment-config").json()
    assert config["verified"] is True and config["verification_status"] == "verified"
    assert config["verification_message"] == "Verified: KES 1 was received (receipt NLJ7RT61SV)."


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code, desc, message",
    [
        ("SFC_IC0003", "The operator does not exist", outcomes.OPERATOR_REASON_EITHER),
        (2028, "The request is not permitted according to product assignment", outcomes._REASONS["2028"]),
        (1032, "Request cancelled by user", "The customer cancelled the M-Pesa prompt."),
        (2001, "The initiator information is invalid.", "The customer entered a wrong M-Pesa PIN."),
    ],
)
def test_verify_failure_records_why_in_plain_words(owner, daraja, code, desc, message):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    accept_push(daraja)
    api.post("/api/payment-config/verify", {"phone": "0712345678"}, format="json")
    push = PaymentConfig.objects.get().last_verification_push
    assert push.phone == "254712345678"
    post_callback(Client(), push, failure_callback(push, code, desc))
    config = api.get("/api/payment-config").json()
    assert config["verified"] is False and config["verification_status"] == "failed"
    assert config["verification_message"] == message


@pytest.mark.django_db
def test_verify_with_wrong_passkey_fails_the_verification_with_plain_reason(owner, daraja, caplog):
    api = client_for(owner)
    api.post("/api/payment-config/setup", TILL, format="json")
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", status=500, json={"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Wrong credentials"})
    with caplog.at_level(logging.DEBUG):
        response = api.post("/api/payment-config/verify", {}, format="json")
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    config = api.get("/api/payment-config").json()
    assert config["verification_status"] == "failed"
    assert config["verification_message"] == "The passkey does not match this shortcode."
    assert PASSKEY not in caplog.text and PASSKEY not in response.content.decode()


@pytest.mark.django_db
def test_cashier_and_other_businesses_cannot_reach_the_config(owner, cashier, make_owner):
    setup_till(owner.business, passkey=PASSKEY)
    for method, url in [("get", "/api/payment-config"), ("patch", "/api/payment-config"), ("delete", "/api/payment-config"),
                        ("post", "/api/payment-config/verify"), ("post", "/api/payment-config/setup")]:
        assert getattr(client_for(cashier), method)(url, {}, format="json").status_code == 403
    stranger = make_owner()
    response = client_for(stranger).get("/api/payment-config")
    assert response.status_code == 404
    assert client_for(stranger).delete("/api/payment-config").status_code == 404
    assert client_for(stranger).patch("/api/payment-config", {"account_name": "x"}, format="json").status_code == 404
    assert PaymentConfig.objects.get().is_active is True and PaymentConfig.objects.get().account_name == "Shop"


@pytest.mark.django_db
def test_admin_never_renders_secrets_and_is_scoped(owner, make_owner, django_user_model):
    setup_till(owner.business, passkey=PASSKEY, consumer_key=KEY, consumer_secret=SECRET)
    other = make_owner(business_name="Other Biz")
    setup_till(other.business, passkey="OTHER-" + PASSKEY, account_name="OtherAcct")
    config = PaymentConfig.objects.get(business=owner.business)
    web = Client()
    web.force_login(owner.user)
    pages = [web.get("/admin/payment_configs/paymentconfig/"), web.get(f"/admin/payment_configs/paymentconfig/{config.pk}/change/"),
             web.get("/admin/payment_configs/paymentconfig/add/")]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        for sentinel in (PASSKEY, KEY, SECRET):
            assert sentinel not in html
        assert "OtherAcct" not in html
    other_config = PaymentConfig.objects.get(business=other.business)
    assert web.get(f"/admin/payment_configs/paymentconfig/{other_config.pk}/change/").status_code == 302
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    web.force_login(root)
    html = web.get(f"/admin/payment_configs/paymentconfig/{config.pk}/change/").content.decode()
    assert PASSKEY not in html and SECRET not in html and KEY not in html


@pytest.mark.django_db
def test_admin_edit_with_blank_passkey_keeps_it(owner):
    setup_till(owner.business, passkey=PASSKEY)
    config = PaymentConfig.objects.get()
    web = Client()
    web.force_login(owner.user)
    response = web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/change/", {
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "", "consumer_key": "",
        "consumer_secret": "", "account_reference": "SHOP2", "account_name": "Shop", "is_active": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert config.account_reference == "SHOP2" and config.passkey.reveal() == PASSKEY


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        ({"consumer_key": "ключ", "consumer_secret": "秘密"}, "consumer_key"),
        ({"passkey": "pässkey€"}, "passkey"),
        ({"passkey": "has space"}, "passkey"),
        ({"shortcode": "١٢٣٤٥"}, "shortcode"),
    ],
)
def test_non_ascii_secrets_and_non_latin_digits_are_refused(owner, change, field):
    setup_till(owner.business, passkey=PASSKEY)
    response = client_for(owner).patch("/api/payment-config", change, format="json")
    assert response.status_code == 400 and field in error_of(response)["fields"]
    config = PaymentConfig.objects.get()
    assert config.passkey.reveal() == PASSKEY and config.shortcode == "7654321" and not config.consumer_key
