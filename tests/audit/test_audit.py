"""The audit log: who changed what, written by the services inside their transactions; secrets
only as "set"/"changed"; append-only; owners read their own business's events."""

import pytest
from django.db import transaction
from django.test import Client

from accounts.models import Membership
from accounts.services import member_add
from audit.models import AuditEvent
from mpesa.services import PushResult, stk_push_apply_result
from payment_configs.services import payment_config_update, payment_config_verify
from tests.conftest import accept_push, client_for, run_worker, setup_till
from wallet.services import wallet_adjust

PASSKEY = "sentinel-passkey-7781"
NEW_PASSKEY = "sentinel-new-passkey-9912"
SETUP = {"method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": PASSKEY, "account_reference": "SHOP1", "account_name": "Shop"}


def rows(business):
    return list(AuditEvent.objects.filter(business=business).order_by("id"))


def all_audit_text():
    return " ".join(str(e.before) + str(e.after) for e in AuditEvent.objects.all())


@pytest.mark.django_db
def test_config_setup_through_the_api_records_actor_request_id_ip_and_secrets_only_as_set(owner, api):
    response = api.post("/api/payment-config/setup", SETUP, format="json", HTTP_X_REQUEST_ID="req-abc-1", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 201

    [event] = rows(owner.business)
    assert (event.action, event.object_type, event.object_id) == ("payment_config.created", "payment_config", response.data["id"])
    # Not trusting a proxy (the default), the client's header is ignored: the row has the id the answer carries.
    assert (event.actor_id, event.actor_email, event.request_id, event.ip) == (
        owner.user.pk, owner.user.email, response["X-Request-ID"], "10.1.2.3")
    assert event.request_id != "req-abc-1" and len(event.request_id) == 36
    assert event.before == {}
    assert event.after == {"method": "till", "shortcode": "7654321", "till_number": "1234567", "account_reference": "SHOP1",
                           "account_name": "Shop", "passkey": "set", "consumer_key": "not set", "consumer_secret": "not set"}
    assert PASSKEY not in all_audit_text()


@pytest.mark.django_db
def test_a_patch_records_only_the_changed_fields_and_a_new_passkey_as_changed(owner, api):
    api.post("/api/payment-config/setup", SETUP, format="json")
    response = api.patch("/api/payment-config", {"account_name": "New Name", "passkey": NEW_PASSKEY}, format="json")
    assert response.status_code == 200

    event = rows(owner.business)[-1]
    assert event.action == "payment_config.updated"
    assert event.before == {"account_name": "Shop", "passkey": "set", "verified": False}
    assert event.after == {"account_name": "New Name", "passkey": "changed", "verified": False}
    assert event.request_id == response["X-Request-ID"] != ""
    assert NEW_PASSKEY not in all_audit_text() and PASSKEY not in all_audit_text()


@pytest.mark.django_db
def test_a_patch_that_changes_nothing_writes_no_audit_row(owner):
    setup_till(owner.business)
    before = AuditEvent.objects.count()
    payment_config_update(business=owner.business, changes={"account_name": "Shop", "passkey": ""})
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_deactivating_and_replacing_a_config_are_audited(owner, api):
    api.post("/api/payment-config/setup", SETUP, format="json")
    first = rows(owner.business)[0].object_id
    api.post("/api/payment-config/setup", SETUP, format="json")
    second = rows(owner.business)[-1].object_id
    api.delete("/api/payment-config")

    assert [(e.action, e.object_id, e.after) for e in rows(owner.business)[1:]] == [
        ("payment_config.deactivated", first, {"is_active": False}),
        ("payment_config.created", second, rows(owner.business)[2].after),
        ("payment_config.deactivated", second, {"is_active": False}),
    ]


@pytest.mark.django_db
def test_verification_start_and_outcome_are_audited_the_outcome_by_the_system(owner, daraja):
    accept_push(daraja)
    config = setup_till(owner.business)
    with run_worker():
        _, push = payment_config_verify(business=owner.business, phone="254708374149")
    stk_push_apply_result(push_id=push.pk, result=PushResult("0", "ok", receipt="VERIFYRC1", amount=1, phone="254708374149"))

    started, verified = rows(owner.business)[-2:]
    assert (started.action, started.object_id, started.after) == (
        "payment_config.verification_started", str(config.public_id), {"phone": "254708374149", "amount": 1, "push_id": str(push.public_id)})
    assert (verified.action, verified.actor_id, verified.actor_email) == ("payment_config.verified", None, "")
    assert verified.after == {"verification_status": "verified", "verification_message": "Verified: KES 1 was received (receipt VERIFYRC1)."}


@pytest.mark.django_db
def test_adding_a_member_is_audited_without_the_password(owner, api):
    response = api.post("/api/business/members", {"email": "kamau@example.com", "full_name": "Kamau", "password": "Sentinel-Pass-551"}, format="json")
    assert response.status_code == 201
    event = rows(owner.business)[-1]
    assert (event.action, event.actor_id) == ("member.added", owner.user.pk)
    assert event.after == {"email": "kamau@example.com", "full_name": "Kamau", "role": "cashier"}
    assert "Sentinel-Pass-551" not in all_audit_text()


@pytest.mark.django_db
def test_a_wallet_adjustment_is_audited_with_balance_before_and_after(owner, admin_user):
    wallet_adjust(business=owner.business, kind="credit", tokens=40, reason="Goodwill", author=admin_user)
    entry = wallet_adjust(business=owner.business, kind="debit", tokens=15, reason="Correction", author=admin_user)

    event = rows(owner.business)[-1]
    assert (event.action, event.object_id, event.actor_id) == ("wallet.adjusted", entry.reference, admin_user.pk)
    assert event.before == {"balance": 40}
    assert event.after == {"balance": 25, "kind": "debit", "tokens": 15, "reason": "Correction"}


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_audit_row(owner):
    setup_till(owner.business)
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        payment_config_update(business=owner.business, changes={"account_name": "Rolled back"})
        raise RuntimeError("later step failed")
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction(owner):
    from audit.services import audit_record

    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(business=owner.business, action="x", object_type="y")


@pytest.mark.django_db
def test_audit_rows_are_append_only_in_python(owner):
    setup_till(owner.business)
    event = rows(owner.business)[0]
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_refuses_raw_updates_and_deletes_of_audit_rows(owner):
    from django.db import InternalError, connection

    setup_till(owner.business)
    event = rows(owner.business)[0]
    for sql in ("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"):
        with pytest.raises(InternalError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "payment_config.created"


# --- GET /api/audit-events ------------------------------------------------------------------


@pytest.mark.django_db
def test_owners_list_their_own_events_newest_first_and_filter_them(owner, make_owner, api):
    other = make_owner()
    setup_till(other.business, account_name="Other Secret Shop")
    api.post("/api/payment-config/setup", SETUP, format="json")
    api.patch("/api/payment-config", {"account_name": "Renamed"}, format="json")
    member_add(business=owner.business, email="m1@example.com", password="Str0ng-pass-123", full_name="M One", role="cashier")

    body = api.get("/api/audit-events").json()
    assert [e["action"] for e in body["results"]] == ["member.added", "payment_config.updated", "payment_config.created"]
    assert body["results"][1]["before"] == {"account_name": "Shop"} and body["results"][1]["actor"] == owner.user.email
    assert "Other Secret Shop" not in str(body)

    assert [e["action"] for e in api.get("/api/audit-events?action=payment_config.").json()["results"]] == ["payment_config.updated", "payment_config.created"]
    assert [e["action"] for e in api.get("/api/audit-events?action=member.added").json()["results"]] == ["member.added"]
    assert api.get("/api/audit-events?since=2999-01-01T00:00:00Z").json()["results"] == []
    assert api.get(f"/api/audit-events?actor_email={owner.user.email}").json()["results"][0]["action"] == "payment_config.updated"


@pytest.mark.django_db
def test_a_bad_filter_is_a_400_naming_the_field(api):
    response = api.get("/api/audit-events?since=yesterday")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and list(response.json()["error"]["fields"]) == ["since"]


@pytest.mark.django_db
def test_cashiers_cannot_read_the_audit_log(cashier):
    assert client_for(cashier).get("/api/audit-events").status_code == 403


# --- Admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_owners_their_events_read_only_and_never_a_secret(owner, make_owner):
    other = make_owner()
    setup_till(other.business)
    setup_till(owner.business, passkey=PASSKEY)
    mine = rows(owner.business)[0]
    theirs = rows(other.business)[0]
    web = Client()
    web.force_login(owner.user)

    listing = web.get("/admin/audit/auditevent/")
    assert listing.status_code == 200 and "payment_config.created" in listing.content.decode()
    page = web.get(f"/admin/audit/auditevent/{mine.pk}/change/")
    assert page.status_code == 200 and PASSKEY not in page.content.decode()
    assert web.get(f"/admin/audit/auditevent/{theirs.pk}/change/").status_code in (302, 404)
    assert web.post(f"/admin/audit/auditevent/{mine.pk}/delete/").status_code == 403
    assert web.get("/admin/audit/auditevent/add/").status_code == 403


@pytest.mark.django_db
def test_an_admin_edit_of_the_config_is_audited_with_the_passkey_as_changed(owner):
    config = setup_till(owner.business)
    web = Client()
    web.force_login(owner.user)
    form = {"method": "till", "shortcode": "7654321", "till_number": "1234567", "account_reference": "SHOP1",
            "account_name": "Admin Name", "passkey": NEW_PASSKEY, "consumer_key": "", "consumer_secret": "", "is_active": "on"}
    response = web.post(f"/admin/payment_configs/paymentconfig/{config.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]

    event = rows(owner.business)[-1]
    assert (event.action, event.actor_id) == ("payment_config.updated", owner.user.pk)
    assert event.before == {"account_name": "Shop", "passkey": "set"}
    assert event.after == {"account_name": "Admin Name", "passkey": "changed"}
    assert NEW_PASSKEY not in all_audit_text()
    assert Membership.objects.filter(business=owner.business).count() == 1


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_row_has_its_request_id_and_a_forged_one_is_replaced(owner, api, settings):
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    response = api.post("/api/payment-config/setup", SETUP, format="json", HTTP_X_REQUEST_ID="req-abc-1")
    assert response["X-Request-ID"] == "req-abc-1"
    forged = api.patch("/api/payment-config", {"account_name": "New Name"}, format="json", HTTP_X_REQUEST_ID="x\" injected=1")
    assert forged.status_code == 200
    created, updated = rows(owner.business)
    assert created.request_id == "req-abc-1"
    assert updated.request_id == forged["X-Request-ID"] != ""
    assert "injected" not in updated.request_id


@pytest.mark.django_db
def test_a_change_without_a_request_of_its_own_takes_the_running_request_id(owner, daraja):
    import structlog

    config = setup_till(owner.business)
    accept_push(daraja)
    structlog.contextvars.bind_contextvars(request_id="req-from-the-callback")
    try:
        with run_worker():
            _, push = payment_config_verify(business=owner.business, phone="254708374149")
        stk_push_apply_result(push_id=push.pk, result=PushResult("0", "ok", receipt="NLJ7RT61SV", amount=1, phone=push.phone))
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    started, outcome = [e for e in rows(owner.business) if e.action.startswith("payment_config.verif")]
    assert (started.action, outcome.action) == ("payment_config.verification_started", "payment_config.verified")
    assert (started.object_id, started.request_id) == (str(config.public_id), "req-from-the-callback")
    assert (outcome.request_id, outcome.actor_id) == ("req-from-the-callback", None)
