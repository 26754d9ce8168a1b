import pytest
from rest_framework.test import APIClient

from accounts.models import Business, Membership, User
from tests.conftest import client_for, error_of, setup_till
from wallet.models import Wallet

SIGN_UP = {
    "email": "Njeri@Example.com",
    "password": "Str0ng-pass-123",
    "full_name": "Njeri Wanjiku",
    "business_name": "Njeri Shop",
    "phone": "0712 345-678",
}


def counts():
    return (User.objects.count(), Business.objects.count(), Membership.objects.count(), Wallet.objects.count())


@pytest.mark.django_db
def test_sign_up_creates_user_business_membership_and_wallet():
    response = APIClient().post("/api/auth/sign-up", SIGN_UP, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "business", "role", "setup_needed", "setup_url"}
    assert body["user"]["email"] == "njeri@example.com"
    assert body["user"]["full_name"] == "Njeri Wanjiku"
    assert body["business"]["name"] == "Njeri Shop"
    assert body["role"] == "owner"
    assert body["setup_needed"] is True
    assert body["setup_url"] == "/api/payment-config/setup"
    assert counts() == (1, 1, 1, 1)
    business = Business.objects.get()
    assert business.phone == "254712345678"
    assert str(business.public_id) == body["business"]["id"]


@pytest.mark.django_db
def test_full_session_flow_sign_up_sign_in_me_refresh_sign_out():
    client = APIClient()
    assert client.post("/api/auth/sign-up/", SIGN_UP, format="json").status_code == 201
    signed_in = client.post("/api/auth/sign-in/", {"email": "NJERI@example.com", "password": "Str0ng-pass-123"}, format="json")
    assert signed_in.status_code == 200
    session = signed_in.json()
    assert session["role"] == "owner" and session["setup_needed"] is True

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access']}")
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "user": session["user"], "business": session["business"], "role": "owner",
        "setup_needed": True, "setup_url": "/api/payment-config/setup",
    }

    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": session["refresh"]}, format="json")
    assert refreshed.status_code == 200
    pair = refreshed.json()
    assert set(pair) == {"access", "refresh"} and pair["refresh"] != session["refresh"]
    # Rotation: the old refresh token stops working.
    again = APIClient().post("/api/auth/token/refresh", {"refresh": session["refresh"]}, format="json")
    assert again.status_code == 401
    assert error_of(again)["code"] == "token_invalid"

    out = APIClient().post("/api/auth/sign-out", {"refresh": pair["refresh"]}, format="json")
    assert out.status_code == 204
    after = APIClient().post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert after.status_code == 401
    assert error_of(after)["code"] == "token_invalid"


@pytest.mark.django_db
def test_setup_needed_turns_false_once_a_config_is_active(owner):
    setup_till(owner.business)
    me = client_for(owner).get("/api/auth/me").json()
    assert me["setup_needed"] is False and me["setup_url"] is None


@pytest.mark.django_db
def test_owner_can_log_into_admin_with_the_same_credentials():
    APIClient().post("/api/auth/sign-up", SIGN_UP, format="json")
    from django.test import Client

    web = Client()
    assert web.login(username="njeri@example.com", password="Str0ng-pass-123")
    assert web.get("/admin/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field, code",
    [
        ({"email": None}, "email", "invalid"),
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"phone": "12345"}, "phone", "invalid_phone"),
        ({"phone": "+255712345678"}, "phone", "invalid_phone"),
        ({"password": "password"}, "password", "invalid"),
        ({"password": "12345678901"}, "password", "invalid"),
        ({"full_name": ""}, "full_name", "invalid"),
        ({"business_name": None}, "business_name", "invalid"),
    ],
)
def test_sign_up_bad_input_names_the_field_and_writes_nothing(change, field, code):
    body = {**SIGN_UP, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = APIClient().post("/api/auth/sign-up", body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == code
    assert field in error["fields"]
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_sign_up_duplicate_email_any_case_is_email_taken(owner):
    before = counts()
    response = APIClient().post("/api/auth/sign-up", {**SIGN_UP, "email": owner.user.email.upper()}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "email_taken"
    assert list(error["fields"]) == ["email"]
    assert counts() == before


@pytest.mark.django_db
def test_body_that_is_not_json_is_a_400_malformed_json():
    response = APIClient().post("/api/auth/sign-up", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_wrong_password_and_unknown_email_get_the_same_401(owner):
    wrong = APIClient().post("/api/auth/sign-in", {"email": owner.user.email, "password": "Wrong-pass-123"}, format="json")
    unknown = APIClient().post("/api/auth/sign-in", {"email": "nobody@example.com", "password": "Wrong-pass-123"}, format="json")
    assert wrong.status_code == unknown.status_code == 401
    # The same answer but for each request's own id (error_of checks error.request_id == X-Request-ID).
    assert error_of(wrong) == error_of(unknown)
    assert wrong["X-Request-ID"] != unknown["X-Request-ID"]
    assert error_of(wrong)["code"] == "invalid_credentials"


@pytest.mark.django_db
def test_owner_adds_a_cashier_who_signs_in_as_cashier(owner):
    api = client_for(owner)
    added = api.post("/api/business/members", {"email": "cash@example.com", "full_name": "Cash", "password": "Str0ng-pass-123"}, format="json")
    assert added.status_code == 201
    assert added.json()["role"] == "cashier"
    listed = api.get("/api/business/members/").json()
    assert [m["email"] for m in listed] == [owner.user.email, "cash@example.com"]
    signed_in = APIClient().post("/api/auth/sign-in", {"email": "cash@example.com", "password": "Str0ng-pass-123"}, format="json")
    assert signed_in.status_code == 200
    assert signed_in.json()["role"] == "cashier"
    assert signed_in.json()["business"]["id"] == str(owner.business.public_id)


@pytest.mark.django_db
def test_cashier_gets_403_on_owner_endpoints(cashier):
    api = client_for(cashier)
    for method, url in [
        ("get", "/api/business/members"),
        ("post", "/api/business/members"),
        ("get", "/api/payment-config"),
        ("post", "/api/payment-config/setup"),
        ("post", "/api/payment-config/verify"),
        ("get", "/api/wallet"),
        ("post", "/api/wallet-payment/initiate"),
        ("post", "/api/products"),
    ]:
        response = getattr(api, method)(url, {}, format="json")
        assert response.status_code == 403, url
        assert error_of(response)["code"] == "permission_denied"
    assert Membership.objects.count() == 2


@pytest.mark.django_db
def test_members_of_another_business_are_not_listed(make_owner):
    a, b = make_owner(), make_owner()
    emails = [m["email"] for m in client_for(b).get("/api/business/members").json()]
    assert a.user.email not in emails


@pytest.mark.django_db
def test_unauthenticated_calls_get_401_in_the_error_shape():
    response = APIClient().get("/api/auth/me")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.django_db
def test_sign_in_is_throttled_per_ip_with_retry_after(owner, settings):
    settings.AUTH_THROTTLE_RATE = "3/min"
    client = APIClient()
    codes = [client.post("/api/auth/sign-in", {"email": owner.user.email, "password": "x"}, format="json").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    throttled = client.post("/api/auth/sign-in", {"email": owner.user.email, "password": "x"}, format="json")
    assert throttled.status_code == 429
    assert error_of(throttled)["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0


@pytest.mark.django_db
def test_unknown_api_path_is_json_404():
    response = APIClient().get("/api/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


SIGN_IN_AGAIN = {
    "code": "token_invalid",
    "message": "The token is invalid, expired or has been revoked: refresh it, or sign in again.",
    "fields": {},
}


@pytest.mark.django_db
def test_an_expired_access_token_is_token_invalid_like_an_expired_refresh_token(owner):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

    access = AccessToken.for_user(owner.user)
    access.set_exp(lifetime=-timedelta(seconds=1))
    response = APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 401
    assert error_of(response) == SIGN_IN_AGAIN

    refresh = RefreshToken.for_user(owner.user)
    refresh.set_exp(lifetime=-timedelta(seconds=1))
    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": str(refresh)}, format="json")
    assert refreshed.status_code == 401
    assert error_of(refreshed) == SIGN_IN_AGAIN


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer a.b.c"])
def test_a_forged_access_token_is_token_invalid(owner, header):
    response = APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_of(response) == SIGN_IN_AGAIN


@pytest.mark.django_db
def test_a_blacklisted_refresh_token_is_token_invalid(owner):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = str(RefreshToken.for_user(owner.user))
    assert APIClient().post("/api/auth/sign-out", {"refresh": refresh}, format="json").status_code == 204
    response = APIClient().post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert error_of(response) == SIGN_IN_AGAIN
