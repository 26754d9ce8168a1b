"""The owner's wallet page: balance, recent ledger entries, and a top-up through
token_purchase_start (Daraja mocked, nothing else)."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from mpesa.models import StkPush
from tests.conftest import accept_push
from wallet.models import TokenPurchase, Wallet
from wallet.services import wallet_credit


@pytest.fixture
def web(owner):
    client = Client()
    client.force_login(owner.user)
    return client


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_an_owner_goes_straight_to_the_wallet_and_sees_recent_entries(owner, web):
    wallet = Wallet.objects.get(business=owner.business)
    for n in range(1, 18):
        wallet_credit(business=owner.business, tokens=n, cause="adjustment", reference=f"seed-{n}", description=f"Gift {n}")

    response = web.get("/admin/wallet/wallet/")
    assert response.status_code == 302 and response["Location"] == f"/admin/wallet/wallet/{wallet.pk}/change/"
    html = web.get(response["Location"]).content.decode()

    assert '<strong id="wallet-balance">153 tokens</strong>' in html  # 1 + 2 + … + 17
    assert html.count('class="ledger-entry"') == 15
    assert "Gift 17" in html and "Gift 3" in html and "Gift 2<" not in html  # the 15 newest, newest first
    assert html.index("Gift 17") < html.index("Gift 16")
    assert f'href="/admin/wallet/wallet/{wallet.pk}/buy-tokens/" id="buy-tokens"' in html


@pytest.mark.django_db
def test_buy_tokens_starts_a_purchase_through_the_service(owner, web, daraja):
    accept_push(daraja)
    wallet = Wallet.objects.get(business=owner.business)

    page = web.get(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/")
    assert page.status_code == 200 and "650880" in page.content.decode()
    response = web.post(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/", {"phone": "0712345678", "amount": "499.5"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/wallet/wallet/{wallet.pk}/change/"
    purchase = TokenPurchase.objects.get(business=owner.business)
    assert (purchase.phone, purchase.amount, purchase.tokens, purchase.created_by_id) == ("254712345678", 500, 500, owner.user.pk)
    assert (purchase.push.purpose, purchase.push.party_b) == ("wallet_topup", "650880")
    assert messages_of(response) == [
        "A prompt for KES 500 is on its way to 254712345678 (paybill 650880). 500 tokens are added when it is paid."
    ]
    wallet.refresh_from_db()
    assert wallet.balance == 0  # nothing is credited before M-Pesa says it was paid


@pytest.mark.django_db
def test_a_refused_purchase_is_a_message(owner, web, daraja):
    accept_push(daraja)
    wallet = Wallet.objects.get(business=owner.business)
    web.post(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/", {"phone": "0712345678", "amount": "100"}, follow=True)

    response = web.post(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/", {"phone": "0712345678", "amount": "100"}, follow=True)

    assert messages_of(response) == [
        "This phone already has an M-Pesa prompt waiting. Ask the customer to answer it, or try again in a minute."
    ]
    assert TokenPurchase.objects.filter(business=owner.business).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("amount, error", [("0", "between 1 and 250,000"), ("250001", "between 1 and 250,000"), ("lots", "Enter an amount")])
def test_a_bad_amount_is_a_form_error_and_nothing_is_written(owner, web, amount, error):
    wallet = Wallet.objects.get(business=owner.business)
    response = web.post(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/", {"phone": "0712345678", "amount": amount})
    assert response.status_code == 200 and error in response.content.decode()
    assert not TokenPurchase.objects.exists() and not StkPush.objects.exists()


@pytest.mark.django_db
def test_an_owner_cannot_top_up_or_read_another_business_wallet(owner, web, make_owner):
    other = make_owner(business_name="Bravo Stores")
    wallet = Wallet.objects.get(business=other.business)
    assert web.get(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/").status_code == 404
    response = web.post(f"/admin/wallet/wallet/{wallet.pk}/buy-tokens/", {"phone": "0712345678", "amount": "100"})
    assert response.status_code == 404
    assert not TokenPurchase.objects.exists()
    assert "Bravo Stores" not in web.get(f"/admin/wallet/wallet/{wallet.pk}/change/", follow=True).content.decode()
