"""POST /api/payment-config/c2b/register: recorded and answered 202, the Daraja call made by a
worker; the outcome in plain words on GET /api/payment-config/c2b and in the admin."""

import json

import pytest
import responses
from django.contrib.messages import get_messages
from django.test import Client

from mpesa.models import C2BRegistration
from tests.conftest import DARAJA, client_for, error_of, setup_paybill, setup_till

SUCCESS = {"OriginatorCoversationID": "6e86-45dd-91ac-fd5d4178ab523408729", "ResponseCode": "0", "ResponseDescription": "success"}


def test_register_answers_202_and_a_worker_registers(api, owner, daraja):
    setup_paybill(owner.business)
    daraja.add(responses.POST, f"{DARAJA}/mpesa/c2b/v2/registerurl", json=SUCCESS)
    assert api.get("/api/payment-config/c2b").status_code == 404
    response = api.post("/api/payment-config/c2b/register", {"validation": True, "accept_unknown_accounts": False}, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {
        "status": "queued", "message": "Registering the URLs with M-Pesa.", "daraja_error_code": "", "shortcode": "174379",
        "version": "v2", "response_type": "Completed", "validation": True, "accept_unknown_accounts": False, "registered_at": None,
    }
    registration = C2BRegistration.objects.get()
    assert registration.token not in response.content.decode()
    state = api.get("/api/payment-config/c2b").json()
    assert (state["status"], state["message"]) == ("registered", "M-Pesa will post payments to PayMe.")
    sent = json.loads(daraja.calls[-1].request.body)
    assert sent["ValidationURL"] == f"https://payme.test/api/daraja/callback/{registration.token}/validation/"
    assert registration.token not in json.dumps(state)


def test_registering_again_keeps_the_token_and_earlier_choices(api, owner, daraja):
    setup_paybill(owner.business)
    daraja.add(responses.POST, f"{DARAJA}/mpesa/c2b/v1/registerurl", json=SUCCESS)
    api.post("/api/payment-config/c2b/register", {"version": "v1", "accept_unknown_accounts": False}, format="json")
    token = C2BRegistration.objects.get().token
    body = api.post("/api/payment-config/c2b/register", {}, format="json").json()
    assert (body["version"], body["accept_unknown_accounts"]) == ("v1", False)
    assert C2BRegistration.objects.get().token == token
    assert len([c for c in daraja.calls if "registerurl" in c.request.url]) == 2


def test_already_registered_reads_in_plain_words(api, owner, daraja):
    setup_paybill(owner.business)
    daraja.add(
        responses.POST, f"{DARAJA}/mpesa/c2b/v2/registerurl", status=500,
        json={"requestId": "1", "errorCode": "500.003.1001", "errorMessage": "Urls are already registered"},
    )
    api.post("/api/payment-config/c2b/register", {}, format="json")
    state = api.get("/api/payment-config/c2b").json()
    assert state["status"] == "failed"
    assert state["daraja_error_code"] == "500.003.1001"
    assert state["message"].startswith("M-Pesa says URLs are already registered for this shortcode.")


def test_bad_input_and_no_config(api, owner):
    response = api.post("/api/payment-config/c2b/register", {}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "payment_config_missing")
    setup_paybill(owner.business)
    response = api.post("/api/payment-config/c2b/register", {"version": "v3", "response_type": "completed"}, format="json")
    assert response.status_code == 400
    assert set(error_of(response)["fields"]) == {"version", "response_type"}
    assert C2BRegistration.objects.count() == 0


def test_cashiers_cannot_register_and_another_business_sees_nothing(api, owner, cashier, make_owner, daraja):
    setup_paybill(owner.business)
    daraja.add(responses.POST, f"{DARAJA}/mpesa/c2b/v2/registerurl", json=SUCCESS)
    assert client_for(cashier).post("/api/payment-config/c2b/register", {}, format="json").status_code == 403
    api.post("/api/payment-config/c2b/register", {}, format="json")
    other = make_owner()
    setup_till(other.business)
    assert client_for(other).get("/api/payment-config/c2b").status_code == 404


@pytest.mark.django_db
def test_the_admin_action_registers_through_the_same_service(owner, daraja):
    from tests.conftest import run_worker

    config = setup_paybill(owner.business)
    daraja.add(responses.POST, f"{DARAJA}/mpesa/c2b/v2/registerurl", json=SUCCESS)
    web = Client()
    web.force_login(owner.user)
    with run_worker():
        response = web.post(
            "/admin/payment_configs/paymentconfig/",
            {"action": "register_c2b_urls", "_selected_action": [config.pk]}, follow=True,
        )
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["Paybill 174379: registering the C2B URLs with M-Pesa. The outcome shows under C2B registrations in a few seconds."]
    registration = C2BRegistration.objects.get()
    assert registration.status == "registered"
    page = web.get("/admin/mpesa/c2bregistration/").content.decode()
    assert "M-Pesa will post payments to PayMe." in page
    assert registration.token not in page
    assert registration.token not in web.get(f"/admin/mpesa/c2bregistration/{registration.pk}/change/").content.decode()
