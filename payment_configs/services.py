from django.db import transaction
from django.utils import timezone

from audit.services import AuditContext, audit_record, field_changes
from mpesa import outcomes
from mpesa.models import StkPush
from mpesa.selectors import stk_push_reason, till_and_store_mixed_up
from mpesa.services import stk_push_create, stk_push_enqueue
from payme.errors import Conflict, NotFound
from payment_configs.models import PaymentConfig
from webhooks.services import event_emit

SECRET_FIELDS = ("passkey", "consumer_key", "consumer_secret")
# Changing any of these means the old verification no longer proves anything.
IDENTITY_FIELDS = ("method", "shortcode", "till_number", "passkey", "consumer_key", "consumer_secret")


SETUP_URL = "/api/payment-config/setup"
AUDITED_FIELDS = ("method", "shortcode", "till_number", "account_reference", "account_name", *SECRET_FIELDS)


def _audit_values(config: PaymentConfig) -> dict:
    return {name: getattr(config, name) for name in AUDITED_FIELDS}


def _secrets_as_states(values: dict) -> dict:
    return {name: (("set" if value else "not set") if name in SECRET_FIELDS else value) for name, value in values.items()}


class _PointsToSetup:
    code = "payment_config_missing"
    default_message = "Set up your Till or Paybill first."

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("extra", {"setup_url": SETUP_URL})
        super().__init__(message, **kwargs)


class PaymentConfigMissing(_PointsToSetup, Conflict):
    """Starting a payment without a config: 409, the request conflicts with the business's state."""


class NoActiveConfig(_PointsToSetup, NotFound):
    """Reading or changing a config that does not exist: 404."""

    default_message = "This business has no active payment config."


def _require_active(business, *, lock=False) -> PaymentConfig:
    qs = PaymentConfig.objects.filter(business=business, is_active=True)
    if lock:
        qs = qs.select_for_update()
    config = qs.first()
    if config is None:
        raise NoActiveConfig()
    return config


def payment_config_setup(
    *,
    business,
    method: str,
    shortcode: str,
    passkey: str,
    account_reference: str,
    account_name: str = "",
    till_number: str = "",
    consumer_key: str = "",
    consumer_secret: str = "",
    context: AuditContext | None = None,
) -> PaymentConfig:
    """Create the business's active config; the previous one is deactivated, never deleted.
    Audited as ``payment_config.created`` (secrets only as "set" / "not set")."""
    with transaction.atomic():
        now = timezone.now()
        previous = list(PaymentConfig.objects.select_for_update().filter(business=business, is_active=True))
        PaymentConfig.objects.filter(pk__in=[p.pk for p in previous]).update(is_active=False, deactivated_at=now)
        for old in previous:
            audit_record(business=business, action="payment_config.deactivated", object_type="payment_config",
                         object_id=old.public_id, before={"is_active": True}, after={"is_active": False}, context=context)
        config = PaymentConfig.objects.create(
            business=business,
            method=method,
            shortcode=shortcode,
            till_number=till_number if method == PaymentConfig.Method.TILL else "",
            passkey=passkey,
            consumer_key=consumer_key or "",
            consumer_secret=consumer_secret or "",
            account_reference=account_reference,
            account_name=account_name or "",
        )
        audit_record(business=business, action="payment_config.created", object_type="payment_config",
                     object_id=config.public_id, after=_secrets_as_states(_audit_values(config)), context=context)
    return PaymentConfig.objects.get(pk=config.pk)


def payment_config_update(*, business, changes: dict, context: AuditContext | None = None) -> PaymentConfig:
    """Partial update. A blank secret keeps the stored one. Identity changes reset verification.
    Audited as ``payment_config.updated`` with the changed fields (a secret only as "changed")."""
    with transaction.atomic():
        config = _require_active(business, lock=True)
        before = _audit_values(config)
        before_verified = config.verified
        written_secrets = {name: value for name, value in changes.items() if name in SECRET_FIELDS and value}
        touched_identity = False
        for name, value in changes.items():
            if name in SECRET_FIELDS:
                if not value:
                    continue
                setattr(config, name, value)
                touched_identity = True
                continue
            if getattr(config, name) != value:
                setattr(config, name, value)
                touched_identity = touched_identity or name in IDENTITY_FIELDS
        if config.method == PaymentConfig.Method.PAYBILL:
            config.till_number = ""
        if touched_identity:
            config.verified = False
            config.verified_at = None
            config.verification_status = PaymentConfig.Verification.NOT_STARTED
            config.verification_message = "Details changed; verify again."
        config.save()
        after = {**{n: v for n, v in _audit_values(config).items() if n not in SECRET_FIELDS}, **written_secrets}
        old, new = field_changes(before, after, secret_fields=SECRET_FIELDS)
        if touched_identity:
            old["verified"], new["verified"] = before_verified, False
        if old or new:
            audit_record(business=business, action="payment_config.updated", object_type="payment_config",
                         object_id=config.public_id, before=old, after=new, context=context)
    return PaymentConfig.objects.get(pk=config.pk)


def payment_config_deactivate(*, business, context: AuditContext | None = None) -> None:
    with transaction.atomic():
        config = _require_active(business, lock=True)
        config.is_active = False
        config.deactivated_at = timezone.now()
        config.save(update_fields=["is_active", "deactivated_at", "updated_at"])
        audit_record(business=business, action="payment_config.deactivated", object_type="payment_config",
                     object_id=config.public_id, before={"is_active": True}, after={"is_active": False}, context=context)


def payment_config_verify(*, business, phone: str, context: AuditContext | None = None) -> tuple[PaymentConfig, StkPush]:
    """Record a KES 1 STK push through the business's own config to ``phone``; a worker sends it
    once the transaction commits. The result decides (callback, query, or Daraja refusing the
    send): success marks the config verified, failure records why on the config."""
    with transaction.atomic():
        config = _require_active(business, lock=True)
        push = stk_push_create(
            business=business,
            purpose=StkPush.Purpose.CONFIG_VERIFICATION,
            shortcode=config.shortcode,
            party_b=config.party_b,
            transaction_type=config.transaction_type,
            amount=1,
            phone=phone,
            account_reference=config.account_reference,
            description="Verify PayMe",
        )
        config.last_verification_push = push
        config.verification_status = PaymentConfig.Verification.PENDING
        config.verification_message = "A KES 1 prompt was sent; answer it to verify."
        config.save(update_fields=["last_verification_push", "verification_status", "verification_message", "updated_at"])
        audit_record(business=business, action="payment_config.verification_started", object_type="payment_config",
                     object_id=config.public_id, after={"phone": push.phone, "amount": 1, "push_id": str(push.public_id)}, context=context)
        stk_push_enqueue(push)
    return config, push


# Failures that show the config itself is wrong — its numbers, passkey or Daraja app — as opposed
# to the phone that answered the prompt (a wrong PIN, a cancel, no answer, no funds).
_CONFIG_WRONG_CODES = {"2028", "oauth_failed", "400.002.02", outcomes.INVALID_REQUEST}
_CONFIG_WRONG_MESSAGES = ("wrong credentials", "merchant does not exist")


def verification_proves_config_wrong(push: StkPush) -> bool:
    """True when a failed verification push shows the config's details are wrong."""
    if push.result_code == outcomes.OPERATOR_DOES_NOT_EXIST:
        return till_and_store_mixed_up(transaction_type=push.transaction_type, shortcode=push.shortcode, party_b=push.party_b)
    if push.result_code in _CONFIG_WRONG_CODES:
        return True
    if push.result_code == "500.001.1001":
        return any(text in (push.result_desc or "").lower() for text in _CONFIG_WRONG_MESSAGES)
    return False


def on_verification_push_change(push: StkPush, previous_status: str) -> None:
    """Registered handler (runs inside the push's transaction).

    A success verifies the config. A failure un-verifies it only when it proves the details wrong
    (``verification_proves_config_wrong``): a re-verification of a verified config that fails on a
    wrong PIN, a cancel or no answer is recorded and shown, and the config stays verified — with
    SALES_REQUIRE_VERIFIED_CONFIG one typo used to stop every sale (issue #13)."""
    config = PaymentConfig.objects.select_for_update().filter(last_verification_push=push).first()
    if config is None:
        return  # a newer verification replaced this one; its outcome no longer matters
    if push.status == StkPush.Status.SUCCEEDED:
        if previous_status == StkPush.Status.SUCCEEDED and config.verification_status == PaymentConfig.Verification.VERIFIED:
            # The receipt arrived after a query had settled it: only the message changes.
            config.verification_message = f"Verified: KES 1 was received (receipt {push.mpesa_receipt})."
            config.save(update_fields=["verification_message", "updated_at"])
            return
        config.verified = True
        config.verified_at = timezone.now()
        config.verification_status = PaymentConfig.Verification.VERIFIED
        receipt = f" (receipt {push.mpesa_receipt})" if push.mpesa_receipt else ""
        config.verification_message = f"Verified: KES 1 was received{receipt}."
    else:
        if push.status == StkPush.Status.NEEDS_REVIEW:
            why = f"The verification payment did not match: {push.review_reason}"
        else:
            why = stk_push_reason(push)
        if config.verified and (push.status == StkPush.Status.NEEDS_REVIEW or not verification_proves_config_wrong(push)):
            config.verification_status = PaymentConfig.Verification.VERIFIED
            since = timezone.localtime(config.verified_at).strftime("%Y-%m-%d %H:%M") if config.verified_at else "before"
            config.verification_message = (
                f"Re-verification failed: {why} The config stays verified (since {since}): "
                "this failure does not show its details are wrong."
            )[:255]
        else:
            config.verified = False
            config.verified_at = None
            config.verification_status = PaymentConfig.Verification.FAILED
            config.verification_message = why[:255]
    config.save(update_fields=["verified", "verified_at", "verification_status", "verification_message", "updated_at"])
    # Only this push's success verifies; a failed re-verification that leaves the config verified
    # is recorded as a failure and emits nothing.
    verified = push.status == StkPush.Status.SUCCEEDED
    audit_record(
        business=config.business_id, action="payment_config.verified" if verified else "payment_config.verification_failed",
        object_type="payment_config", object_id=config.public_id,
        after={"verification_status": config.verification_status, "verification_message": config.verification_message},
    )
    if verified:
        event_emit(business=config.business_id, type="payment_config.verified", data={
            "object": "payment_config", "id": str(config.public_id), "method": config.method,
            "shortcode": config.shortcode, "till_number": config.till_number,
            "verified_at": config.verified_at.isoformat(), "mpesa_receipt": push.mpesa_receipt or "",
        })


def payment_config_c2b_register(
    *,
    business,
    version: str | None = None,
    response_type: str | None = None,
    validation_enabled: bool | None = None,
    accept_unknown_accounts: bool | None = None,
):
    """Have a worker register the active config's C2B confirmation (and, if asked, validation)
    URLs with Daraja; nothing is sent in this call. Options left out keep their previous value
    (v2, Completed, no validation, unknown accounts accepted the first time). Returns the
    ``mpesa.C2BRegistration`` (status ``queued``). Raises PaymentConfigMissing (409)."""
    from mpesa.c2b import c2b_registration_request
    from mpesa.models import C2BRegistration

    with transaction.atomic():
        config = PaymentConfig.objects.select_for_update().filter(business=business, is_active=True).first()
        if config is None:
            raise PaymentConfigMissing()
        previous = C2BRegistration.objects.filter(source_id=config.pk).first()

        def pick(value, name, default):
            if value is not None:
                return value
            return getattr(previous, name) if previous is not None else default

        return c2b_registration_request(
            business=business,
            source_id=config.pk,
            shortcode=config.shortcode,
            till_number=config.till_number,
            version=pick(version, "version", C2BRegistration.Version.V2),
            response_type=pick(response_type, "response_type", C2BRegistration.ResponseType.COMPLETED),
            validation_enabled=pick(validation_enabled, "validation_enabled", False),
            accept_unknown_accounts=pick(accept_unknown_accounts, "accept_unknown_accounts", True),
        )
