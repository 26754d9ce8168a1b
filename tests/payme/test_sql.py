"""payme.sql: plain SQL that must read and write exactly what the ORM would."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import user_with_tenant
from accounts.models import Membership, User
from mpesa.models import CallbackDelivery, StkPush
from payme import sql
from payme.models import IdempotencyKey
from payment_configs.models import PaymentConfig
from payment_configs.services import payment_config_setup
from wallet.models import Wallet, WalletEntry


def _push(business, **extra):
    fields = dict(
        business=business, purpose="wallet_topup", environment="sandbox", shortcode="650880", party_b="650880",
        transaction_type="CustomerPayBillOnline", amount=10, phone="254708374149", account_reference="37605544",
        description="PayMe tokens", callback_token=uuid.uuid4().hex, status="pending",
    )
    fields.update(extra)
    return StkPush.objects.create(**fields)


def _field_values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_select_by_reads_every_field_as_the_orm_does(owner):
    push = _push(
        owner.business, raw_callback={"Body": {"stkCallback": {"ResultCode": 0}}}, paid_amount=Decimal("10.00"),
        transaction_date=datetime(2026, 11, 22, 10, 21, 15, tzinfo=UTC), mpesa_receipt="RKT1ABC",
    )
    orm = StkPush.objects.get(pk=push.pk)
    mine = sql.select_by(StkPush, id=push.pk)
    assert _field_values(mine) == _field_values(orm)
    assert mine.raw_callback == {"Body": {"stkCallback": {"ResultCode": 0}}}
    assert mine.paid_amount == Decimal("10.00") and isinstance(mine.public_id, uuid.UUID)
    assert mine._state.adding is False and mine._state.db == "default"


def test_select_by_decrypts_encrypted_fields_like_the_orm(owner):
    payment_config_setup(business=owner.business, method="till", shortcode="7654321", till_number="1234567", passkey="the-passkey", account_reference="SHOP")
    orm = PaymentConfig.objects.get(business=owner.business)
    mine = sql.select_by(PaymentConfig, business_id=owner.business.pk)
    assert mine.passkey.reveal() == orm.passkey.reveal() == "the-passkey"


def test_select_by_returns_none_when_nothing_matches(db):
    assert sql.select_by(Wallet, business_id=987654) is None


def test_select_by_matches_every_column_with_values_prepared_by_their_fields(owner):
    push = _push(owner.business)
    other = _push(owner.business, status="failed")
    assert sql.select_by(StkPush, public_id=push.public_id).pk == push.pk  # a UUID, on both backends
    assert sql.select_by(StkPush, id=other.pk, status="failed").pk == other.pk
    assert sql.select_by(StkPush, id=other.pk, status="pending") is None


def test_select_by_refuses_a_column_the_model_does_not_have(db):
    with pytest.raises(ValueError, match="no column 'business'"):
        sql.select_by(Wallet, business=1)


def test_select_by_for_update_locks_where_the_backend_can(owner):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        sql.select_by(Wallet, business_id=owner.business.pk, for_update=True)
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1
    assert selects[0].endswith("FOR UPDATE") == connection.features.has_select_for_update


def test_insert_sets_the_key_and_auto_now_add_and_stores_what_the_orm_reads(owner):
    push = _push(owner.business)
    delivery = sql.insert(CallbackDelivery(push=push, token_prefix="abcd1234", body="{}", remote_addr="127.0.0.1", outcome="received"))
    assert delivery.pk is not None and delivery._state.adding is False
    stored = CallbackDelivery.objects.get(pk=delivery.pk)
    assert stored.received_at is not None and stored.received_at == delivery.received_at
    assert (stored.push_id, stored.token_prefix, stored.remote_addr, stored.outcome) == (push.pk, "abcd1234", "127.0.0.1", "received")


def test_insert_is_refused_by_the_database_constraints_and_leaves_nothing(owner):
    wallet = Wallet.objects.get(business=owner.business)
    before = WalletEntry.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.insert(WalletEntry(wallet=wallet, business=owner.business, kind="credit", tokens=0, balance_after=0, cause="purchase", reference="zero"))
    assert WalletEntry.objects.count() == before


def test_insert_unless_exists_leaves_the_first_row_and_returns_none(owner):
    wallet = Wallet.objects.get(business=owner.business)

    def entry(tokens):
        return WalletEntry(wallet=wallet, business=owner.business, kind="credit", tokens=tokens, balance_after=tokens, cause="purchase", reference="purchase:one")

    first = sql.insert(entry(5), unless_exists="reference")
    assert first is not None and first.pk is not None
    assert sql.insert(entry(7), unless_exists="reference") is None
    assert list(WalletEntry.objects.filter(reference="purchase:one").values_list("pk", "tokens")) == [(first.pk, 5)]


def test_insert_unless_exists_needs_a_unique_column(owner):
    wallet = Wallet.objects.get(business=owner.business)
    with pytest.raises(ValueError, match="not a unique column"):
        sql.insert(WalletEntry(wallet=wallet, business=owner.business, kind="credit", tokens=1, balance_after=1, cause="purchase", reference="r"), unless_exists="description")
    assert not WalletEntry.objects.filter(reference="r").exists()


def test_insert_unless_exists_takes_the_columns_of_a_unique_constraint_without_a_savepoint(owner):
    def key(request_hash):
        return IdempotencyKey(business=owner.business, scope="sale_payment", key="k-1", request_hash=request_hash)

    columns = ("business_id", "scope", "key")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        first = sql.insert(key("a" * 64), unless_exists=columns)
        assert sql.insert(key("b" * 64), unless_exists=columns) is None
    assert not any("SAVEPOINT" in q["sql"] for q in queries.captured_queries)
    stored = IdempotencyKey.objects.get()
    assert (stored.pk, stored.request_hash, stored.state, stored.response_status, stored.response_body) == (first.pk, "a" * 64, "in_progress", None, None)
    other_scope = IdempotencyKey(business=owner.business, scope="wallet_purchase", key="k-1", request_hash="c" * 64)
    assert sql.insert(other_scope, unless_exists=columns) is not None
    with pytest.raises(ValueError):
        sql.insert(key("d" * 64), unless_exists=("scope", "key"))


def test_update_writes_only_the_named_fields_and_auto_now(owner):
    wallet = Wallet.objects.get(business=owner.business)
    stamp = wallet.updated_at
    loaded = sql.select_by(Wallet, id=wallet.pk)
    loaded.balance = 42
    loaded.business_id = 999999  # changed in memory, not named: must not be written
    sql.update(loaded, ["balance"])
    stored = Wallet.objects.get(pk=wallet.pk)
    assert stored.balance == 42
    assert stored.business_id == owner.business.pk
    assert stored.updated_at > stamp


def test_update_of_an_unknown_field_is_refused(owner):
    wallet = Wallet.objects.get(business=owner.business)
    with pytest.raises(ValueError, match="no updatable fields"):
        sql.update(wallet, ["nonsense"])


# --- authentication: user, membership and business in one statement --------------------------


def test_user_with_tenant_loads_all_three_in_one_query(owner, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = user_with_tenant(owner.user.pk)
        assert user.membership.business.name == owner.business.name
        assert user.membership.role == owner.role
        assert user._payme_membership.pk == owner.pk
    assert _field_values(user) == _field_values(User.objects.get(pk=owner.user.pk))


def test_user_without_membership_has_none_without_a_second_query(db, django_assert_num_queries):
    user = User.objects.create_user(email="lonely@example.com", password="Str0ng-pass-123", full_name="Lonely")
    with django_assert_num_queries(1):
        loaded = user_with_tenant(user.pk)
        assert loaded._payme_membership is None
        with pytest.raises(Membership.DoesNotExist):
            loaded.membership  # noqa: B018


def test_unknown_user_is_none(db):
    assert user_with_tenant(987654) is None


@pytest.mark.parametrize("user_id", [987654, "12x", 2**63, True, "\u0661", -1])
def test_token_for_a_missing_or_odd_user_id_is_a_401(owner, user_id):
    token = AccessToken.for_user(owner.user)
    token["user_id"] = user_id
    response = APIClient().get("/api/wallet", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_token_for_an_inactive_user_is_a_401(owner):
    token = AccessToken.for_user(owner.user)
    User.objects.filter(pk=owner.user.pk).update(is_active=False)
    response = APIClient().get("/api/wallet", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_real_token_reads_the_wallet(owner):
    token = AccessToken.for_user(owner.user)
    response = APIClient().get("/api/wallet", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["balance"] == 0
