"""The payout config, payouts, approvals, rejections and refunds in the audit log: written in the
service's transaction, with the actor and the request's context, secrets only as set/changed."""

from audit.models import AuditEvent
from payouts.models import Payout, PayoutConfig
from tests.conftest import client_for, error_of
from tests.payouts import test_payouts_api as base
from tests.payouts.test_payouts_api import PASSWORD, REVERSAL, ack, ask

configured = base.configured  # the payouts tests' fixtures
paid_cart_sale = base.paid_cart_sale
second_owner = base.second_owner
NEW_PASSWORD = "Sentinel-New-Initiator-Pw-4409!"
CONSUMER_SECRET = "sentinel-consumer-secret-6620"


def rows(business, prefix=""):
    return [e for e in AuditEvent.objects.filter(business=business).order_by("id") if e.action.startswith(prefix)]


def all_audit_text():
    return " ".join(str(e.before) + str(e.after) for e in AuditEvent.objects.all())


def test_config_setup_update_and_deactivate_are_audited_with_secrets_only_as_set_or_changed(owner, api):
    created = api.post("/api/payout-config/setup", {"shortcode": "600996", "initiator_name": "testapi", "initiator_password": PASSWORD,
                                                    "approval_threshold": 5000}, format="json", REMOTE_ADDR="10.1.2.3").json()
    api.patch("/api/payout-config", {"initiator_password": NEW_PASSWORD, "consumer_key": "ck-1", "consumer_secret": CONSUMER_SECRET,
                                     "daily_max": 2000}, format="json")
    api.patch("/api/payout-config", {"initiator_password": "", "daily_max": 2000}, format="json")  # changes nothing
    replaced = api.post("/api/payout-config/setup", {"shortcode": "600997", "initiator_name": "ops", "initiator_password": PASSWORD},
                        format="json").json()
    assert api.delete("/api/payout-config").status_code == 204
    events = rows(owner.business)
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("payout_config.created", "payout_config", created["id"]),
        ("payout_config.updated", "payout_config", created["id"]),
        ("payout_config.deactivated", "payout_config", created["id"]),
        ("payout_config.created", "payout_config", replaced["id"]),
        ("payout_config.deactivated", "payout_config", replaced["id"]),
    ]
    config = PayoutConfig.objects.get(public_id=created["id"])
    assert events[0].after == {"shortcode": "600996", "initiator_name": "testapi", "initiator_password": "set",
                               "consumer_key": "not set", "consumer_secret": "not set", "max_per_payout": config.max_per_payout,
                               "daily_max": events[0].after["daily_max"], "approval_threshold": 5000}
    assert (events[0].actor_id, events[0].ip) == (owner.user_id, "10.1.2.3")
    assert events[1].before == {"initiator_password": "set", "consumer_key": "not set", "consumer_secret": "not set",
                                "daily_max": events[0].after["daily_max"]}
    assert events[1].after == {"initiator_password": "changed", "consumer_key": "set", "consumer_secret": "set", "daily_max": 2000}
    assert (events[2].before, events[2].after) == ({"is_active": True}, {"is_active": False})
    text = all_audit_text()
    for secret in (PASSWORD, NEW_PASSWORD, CONSUMER_SECRET, "ck-1"):
        assert secret not in text


def test_a_refused_setup_writes_no_audit_row(owner, api):
    response = api.post("/api/payout-config/setup", {"shortcode": "600996", "initiator_name": "testapi",
                                                      "initiator_password": "pass(word"}, format="json")
    assert response.status_code == 400
    assert AuditEvent.objects.count() == 0


def test_a_payout_asked_approved_and_another_rejected_are_audited_with_their_actors(owner, api, configured, second_owner, daraja):
    ack(daraja)
    before = AuditEvent.objects.count()
    asked = ask(api, amount=20_000)
    first = asked.json()
    second = ask(api, amount=15_000, remarks="Rent").json()
    other = client_for(second_owner)
    assert other.post(f"/api/payouts/{first['id']}/approve").status_code == 200
    assert other.post(f"/api/payouts/{second['id']}/reject", {"reason": "Not our landlord"}, format="json").status_code == 200
    refused = api.post(f"/api/payouts/{second['id']}/approve")
    assert refused.status_code == 403  # a refused approval writes nothing
    events = rows(owner.business, "payout.")
    assert AuditEvent.objects.count() == before + 4
    assert [(e.action, e.object_id, e.actor_id) for e in events] == [
        ("payout.requested", first["id"], owner.user_id),
        ("payout.requested", second["id"], owner.user_id),
        ("payout.approved", first["id"], second_owner.user_id),
        ("payout.rejected", second["id"], second_owner.user_id),
    ]
    assert events[0].request_id == asked["X-Request-ID"] != ""
    assert events[0].after == {"kind": "payout", "method": "b2c", "amount": 20_000, "phone": "254705912645",
                               "remarks": "Supplier payment", "status": "awaiting_approval"}
    assert (events[2].before, events[2].after["status"]) == ({"status": "awaiting_approval"}, "pending")
    assert (events[3].before, events[3].after["status"], events[3].after["reason"]) == (
        {"status": "awaiting_approval"}, "rejected", "Not our landlord")
    assert PASSWORD not in all_audit_text()


def test_a_payout_over_the_limit_writes_no_audit_row(owner, api, configured, daraja):
    before = AuditEvent.objects.count()
    response = ask(api, amount=60_000)
    assert error_of(response)["code"] == "payout_limit_exceeded"
    assert (AuditEvent.objects.count(), Payout.objects.count()) == (before, 0)


def test_a_refund_request_is_audited(owner, api, configured, paid_cart_sale, daraja):
    ack(daraja, REVERSAL)
    refund = api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {"restock": True, "reason": "Broken"}, format="json").json()
    [event] = rows(owner.business, "refund.")
    assert (event.action, event.object_type, event.object_id, event.actor_id) == ("refund.requested", "payout", refund["id"], owner.user_id)
    assert event.after == {"kind": "refund", "method": "reversal", "amount": 800, "phone": "254722999888", "remarks": "Broken",
                           "status": "pending", "sale_id": str(paid_cart_sale.public_id), "restock": True}


def test_the_admin_approval_is_audited(owner, api, configured, second_owner, client, daraja):
    ack(daraja)
    payout = ask(api, amount=20_000).json()
    client.force_login(second_owner.user)
    page = client.post("/admin/payouts/payout/", {"action": "approve", "_selected_action": [Payout.objects.get().pk]})
    assert page.status_code == 302
    [event] = rows(owner.business, "payout.approved")
    assert (event.object_id, event.actor_id, event.ip) == (payout["id"], second_owner.user_id, "127.0.0.1")


def test_an_admin_edit_of_the_payout_config_is_audited_with_the_password_as_changed(owner, configured, client):
    client.force_login(owner.user)
    form = {"shortcode": "600996", "initiator_name": "ops", "initiator_password": NEW_PASSWORD, "consumer_key": "",
            "consumer_secret": "", "max_per_payout": 50_000, "daily_max": 100_000, "approval_threshold": 10_000, "is_active": "on"}
    response = client.post(f"/admin/payouts/payoutconfig/{configured.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    [event] = rows(owner.business, "payout_config.updated")
    assert (event.object_id, event.actor_id) == (str(configured.public_id), owner.user_id)
    assert (event.before, event.after) == ({"initiator_name": "testapi", "initiator_password": "set"},
                                           {"initiator_name": "ops", "initiator_password": "changed"})
    assert PayoutConfig.objects.get().initiator_password.reveal() == NEW_PASSWORD
    assert NEW_PASSWORD not in all_audit_text() and PASSWORD not in all_audit_text()
    unchanged = client.post(f"/admin/payouts/payoutconfig/{configured.pk}/change/", {**form, "initiator_password": ""})
    assert unchanged.status_code == 302
    assert len(rows(owner.business, "payout_config.updated")) == 1
