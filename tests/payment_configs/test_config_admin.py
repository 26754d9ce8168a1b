"""The owner's Till/Paybill page: plain words, secrets never shown, and a Verify action that goes
through payment_config_verify (Daraja mocked, nothing else)."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from mpesa.models import StkPush
from payment_configs.models import PaymentConfig
from tests.conftest import accept_push, setup_till


@pytest.fixture
def web(owner):
    client = Client()
    client.force_login(owner.user)
    return client


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_the_config_page_speaks_plainly_and_never_shows_a_secret(owner, web):
    config = setup_till(owner.business, passkey="till-passkey-secret", consumer_key="ck-secret-1", consumer_secret="cs-secret-2")

    html = web.get(f"/admin/payment_configs/paymentconfig/{config.pk}/change/").content.decode()

    for secret in ("till-passkey-secret", "ck-secret-1", "cs-secret-2"):
        assert secret not in html
    for jargon in ("STK Password", "PartyB", "Save and add another", "_addanother"):
        assert jargon not in html, jargon
    assert "Store number or paybill number" in html and "Till number" in html
    assert "Passkey on file" in html and '<div class="readonly">Stored</div>' in html
    assert "Stored (your own consumer key and secret are used)" in html
    assert f'href="/admin/payment_configs/paymentconfig/{config.pk}/verify/" id="verify-config"' in html


@pytest.mark.django_db
def test_a_config_without_its_own_daraja_app_says_not_set(owner, web):
    config = setup_till(owner.business)
    html = web.get(f"/admin/payment_configs/paymentconfig/{config.pk}/change/").content.decode()
    assert "Not set (PayMe&#x27;s Daraja app is used)" in html


@pytest.mark.django_db
def test_verify_sends_the_kes_1_prompt_through_the_service(owner, web, daraja):
    accept_push(daraja)
    config = setup_till(owner.business)

    page = web.get(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/")
    assert page.status_code == 200 and 'value="254708374149"' in page.content.decode()
    response = web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/", {"phone": "0712 345 678"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/payment_configs/paymentconfig/{config.pk}/change/"
    assert messages_of(response) == [
        "A KES 1 prompt is on its way to 254712345678. Answer it with your M-Pesa PIN; this page shows the result once Safaricom answers."
    ]
    push = StkPush.objects.get(business=owner.business)
    assert (push.purpose, push.phone, push.amount, push.party_b) == ("config_verification", "254712345678", 1, "1234567")
    config.refresh_from_db()
    assert config.last_verification_push_id == push.pk
    assert config.verification_status == PaymentConfig.Verification.PENDING


@pytest.mark.django_db
def test_a_refused_verification_is_a_message_and_sends_nothing_more(owner, web, daraja):
    accept_push(daraja)
    config = setup_till(owner.business)
    web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/", {"phone": "0712345678"}, follow=True)

    response = web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/", {"phone": "0712345678"}, follow=True)

    assert messages_of(response) == [
        "This phone already has an M-Pesa prompt waiting. Ask the customer to answer it, or try again in a minute."
    ]
    assert StkPush.objects.filter(business=owner.business).count() == 1


@pytest.mark.django_db
def test_a_bad_phone_is_a_form_error_and_nothing_is_written(owner, web):
    config = setup_till(owner.business)
    response = web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/", {"phone": "12345"})
    assert response.status_code == 200
    assert "Enter a Kenyan mobile number" in response.content.decode()
    assert not StkPush.objects.exists()
    config.refresh_from_db()
    assert config.verification_status == PaymentConfig.Verification.NOT_STARTED


@pytest.mark.django_db
def test_an_owner_cannot_verify_another_business_config(owner, web, make_owner):
    other = make_owner(business_name="Bravo Stores")
    config = setup_till(other.business)
    assert web.get(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/").status_code == 404
    assert web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/", {"phone": "0712345678"}).status_code == 404
    assert not StkPush.objects.exists()


@pytest.mark.django_db
def test_a_cashier_cannot_verify(owner, cashier):
    config = setup_till(owner.business)
    client = Client()
    client.force_login(cashier.user)
    response = client.post(f"/admin/payment_configs/paymentconfig/{config.pk}/verify/", {"phone": "0712345678"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not StkPush.objects.exists()


@pytest.mark.django_db
def test_a_retired_config_offers_no_verify(owner, web):
    old = setup_till(owner.business)
    setup_till(owner.business, till_number="1234568")
    old.refresh_from_db()
    assert not old.is_active
    html = web.get(f"/admin/payment_configs/paymentconfig/{old.pk}/change/").content.decode()
    assert 'id="verify-config"' not in html
    response = web.post(f"/admin/payment_configs/paymentconfig/{old.pk}/verify/", {"phone": "0712345678"}, follow=True)
    assert messages_of(response) == ["Only the config in use can be verified."]
    assert not StkPush.objects.exists()
