import pytest
from django.test import Client

from tests.conftest import setup_till


def admin_client(membership):
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.mark.django_db
def test_owner_changelists_show_only_their_business(make_owner):
    a = make_owner(business_name="Alpha Traders")
    b = make_owner(business_name="Bravo Stores")
    setup_till(a.business, account_name="AlphaTill")
    setup_till(b.business, account_name="BravoTill", shortcode="7654329", till_number="1234569")
    client = admin_client(a)
    for url in [
        "/admin/accounts/business/",
        "/admin/accounts/user/",
        "/admin/accounts/membership/",
        "/admin/payment_configs/paymentconfig/",
        "/admin/wallet/wallet/",
    ]:
        page = client.get(url, follow=True)  # an owner's wallet list goes straight to the one wallet
        assert page.status_code == 200, url
        html = page.content.decode()
        assert "Bravo Stores" not in html and b.user.email not in html, url
    assert "Alpha Traders" in client.get("/admin/accounts/business/").content.decode()
    # Another business's object is a 404-like redirect in the admin, never shown.
    other = client.get(f"/admin/accounts/business/{b.business.pk}/change/")
    assert other.status_code == 302 or other.status_code == 404


@pytest.mark.django_db
def test_superuser_sees_every_business(make_owner, django_user_model):
    make_owner(business_name="Alpha Traders")
    make_owner(business_name="Bravo Stores")
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    client = Client()
    client.force_login(root)
    html = client.get("/admin/accounts/business/").content.decode()
    assert "Alpha Traders" in html and "Bravo Stores" in html


@pytest.mark.django_db
def test_cashier_cannot_use_the_admin(cashier):
    client = Client()
    client.force_login(cashier.user)
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_superuser_sets_a_users_password_in_the_admin(owner, django_user_model, caplog):
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    client = Client()
    client.force_login(root)
    change = client.get(f"/admin/accounts/user/{owner.user.pk}/change/").content.decode()
    assert f"/admin/accounts/user/{owner.user.pk}/password/" in change
    assert client.get(f"/admin/accounts/user/{owner.user.pk}/password/").status_code == 200
    new = "Fresh-pass-2026!"
    response = client.post(
        f"/admin/accounts/user/{owner.user.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.check_password(new)
    assert new not in caplog.text
    signed_in = Client().post("/api/auth/sign-in", {"email": owner.user.email, "password": new}, content_type="application/json")
    assert signed_in.status_code == 200


@pytest.mark.django_db
def test_an_owner_cannot_set_passwords_in_the_admin(owner, cashier):
    client = admin_client(owner)
    before = cashier.user.password
    assert client.get(f"/admin/accounts/user/{cashier.user.pk}/password/").status_code == 403
    response = client.post(
        f"/admin/accounts/user/{cashier.user.pk}/password/",
        {"password1": "Other-pass-2026!", "password2": "Other-pass-2026!", "usable_password": "true"},
    )
    assert response.status_code == 403
    cashier.user.refresh_from_db()
    assert cashier.user.password == before
    assert "/password/" not in client.get(f"/admin/accounts/user/{cashier.user.pk}/change/").content.decode()


@pytest.mark.django_db
def test_the_index_and_menu_say_stk_pushes(owner):
    html = admin_client(owner).get("/admin/").content.decode()
    assert "STK pushes" in html and "STK pushs" not in html
    assert "STK pushes" in admin_client(owner).get("/admin/mpesa/stkpush/").content.decode()
