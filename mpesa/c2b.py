"""C2B: payments customers make from the M-Pesa menu (no prompt). REFERENCE.md sections 7 and 15.

- A registration per payment config holds the secret token of its URLs
  (``<MPESA_CALLBACK_URL>/<token>/`` for confirmations, ``…/<token>/validation/`` for validation).
  Registering with Daraja is a worker's job (``c2b_registration_send``), never a request's.
- A confirmation is recorded once by ``TransID`` (``INSERT … ON CONFLICT DO NOTHING``): a duplicate,
  or sixteen concurrent duplicates, change nothing. The owning app's ``on_receipt`` runs in the
  same transaction (``sales`` matches it to an invoice and emits ``c2b.received`` / ``invoice.paid``).
- Amounts are whole KES: ``TransAmount`` "5.00" is 5; "5.50" is recorded with no amount and goes to
  review (money is never rounded). The MSISDN is kept as Daraja sends it (masked or hashed).
- ``mpesa`` does not import the apps above it: they register their hooks with ``register_c2b``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from mpesa.daraja import Credentials, DarajaClient, DarajaInvalidRequest, DarajaRejected, DarajaUnavailable
from mpesa.models import C2BReceipt, C2BRegistration
from mpesa.services import parse_transaction_date, to_decimal
from payme import sql

logger = logging.getLogger(__name__)

Status = C2BRegistration.Status
ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}
REJECT_ACCOUNT = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
ALREADY_REGISTERED_CODES = {"500.003.1001"}
PRODUCT_MISMATCH_CODE = "401.003.01"


# --- Hooks (registered by the apps above, in AppConfig.ready()) -----------------------------------


@dataclass(frozen=True)
class C2BHooks:
    """``on_receipt(receipt)`` runs inside the transaction that recorded a new receipt (matching).
    ``account_open(registration, account_number)`` says whether validation knows the account.
    ``credentials_for(registration)`` returns the Daraja app to register the URLs with."""

    on_receipt: Callable[[C2BReceipt], None]
    account_open: Callable[[C2BRegistration, str], bool]
    credentials_for: Callable[[C2BRegistration], Credentials]


_hooks: dict[str, C2BHooks] = {}


def register_c2b(*, on_receipt=None, account_open=None, credentials_for=None) -> None:
    current = _hooks.get("c2b")
    _hooks["c2b"] = C2BHooks(
        on_receipt=on_receipt or (current.on_receipt if current else (lambda receipt: None)),
        account_open=account_open or (current.account_open if current else (lambda registration, account: False)),
        credentials_for=credentials_for or (current.credentials_for if current else _no_credentials),
    )


def _no_credentials(registration):
    raise LookupError("no app registered C2B credentials")


def hooks() -> C2BHooks:
    if "c2b" not in _hooks:
        register_c2b()
    return _hooks["c2b"]


# --- URLs and registration ------------------------------------------------------------------------


def confirmation_url_for(registration: C2BRegistration) -> str:
    return f"{settings.MPESA_CALLBACK_URL.rstrip('/')}/{registration.token}/"


def validation_url_for(registration: C2BRegistration) -> str:
    return f"{confirmation_url_for(registration)}validation/"


def c2b_registration_request(
    *,
    business,
    source_id: int,
    shortcode: str,
    till_number: str = "",
    version: str = C2BRegistration.Version.V2,
    response_type: str = C2BRegistration.ResponseType.COMPLETED,
    validation_enabled: bool = False,
    accept_unknown_accounts: bool = True,
) -> C2BRegistration:
    """Record what to register for a config (creating its token once) and have a worker register
    it after the caller's transaction commits. Re-requesting keeps the token (the URLs Daraja
    already holds stay valid) and queues the registration again."""
    with transaction.atomic():
        registration = C2BRegistration.objects.select_for_update().filter(source_id=source_id).first()
        if registration is None:
            registration = C2BRegistration(business=business, source_id=source_id, token=secrets.token_hex(32))
        registration.shortcode = shortcode
        registration.till_number = till_number
        registration.version = version
        registration.response_type = response_type
        registration.validation_enabled = validation_enabled
        registration.accept_unknown_accounts = accept_unknown_accounts
        registration.status = Status.QUEUED
        registration.message = "Registering the URLs with M-Pesa."
        registration.daraja_error_code = ""
        registration.save()
        registration_id = registration.pk
        transaction.on_commit(lambda: _publish_register(registration_id))
    return registration


def _publish_register(registration_id: int) -> None:
    from mpesa.tasks import c2b_registration_send_task

    try:
        c2b_registration_send_task.delay(registration_id)
    except Exception as exc:  # the broker is down: the owner sees "queued" and can ask again
        logger.error("Could not enqueue C2B registration %s (%s)", registration_id, type(exc).__name__)


def plain_register_error(code: str, message: str) -> str:
    lowered = message.lower()
    if code in ALREADY_REGISTERED_CODES or "already registered" in lowered or "duplicate notification" in lowered:
        return (
            "M-Pesa says URLs are already registered for this shortcode. In production they can be registered "
            "only once: delete them on the Daraja portal (Self Service → URL Management), then register again."
        )
    if code == PRODUCT_MISMATCH_CODE or "apiproduct" in lowered.replace(" ", ""):
        return (
            "The Daraja app does not have this C2B API version: switch between v1 and v2 to match the "
            "product on your Daraja app, then register again."
        )
    if code == "oauth_failed":
        return "M-Pesa refused the Daraja app's consumer key and secret."
    return f"M-Pesa refused the registration ({code}: {message[:120]})."


def c2b_registration_send(*, registration_id: int) -> C2BRegistration | None:
    """The worker's half: claim (queued → sending, a conditional UPDATE), call Daraja once, record
    the answer in plain words. Idempotent: a second delivery finds nothing to claim. Never inside
    a DB transaction."""
    now = timezone.now()
    claimed = C2BRegistration.objects.filter(pk=registration_id, status=Status.QUEUED).update(status=Status.SENDING, updated_at=now)
    if not claimed:
        return None
    registration = C2BRegistration.objects.get(pk=registration_id)
    status, message, code = Status.FAILED, "", ""
    try:
        credentials = hooks().credentials_for(registration)
        client = DarajaClient(credentials=credentials)
        client.c2b_register_urls(
            shortcode=registration.shortcode,
            confirmation_url=confirmation_url_for(registration),
            validation_url=validation_url_for(registration) if registration.validation_enabled else "",
            response_type=registration.response_type,
            version=registration.version,
        )
        status, message = Status.REGISTERED, "M-Pesa will post payments to PayMe."
    except LookupError:
        message = "This payment config no longer exists."
    except DarajaInvalidRequest as exc:
        message = f"PayMe could not build the request: {exc.field} {exc.message}."
    except DarajaRejected as exc:
        code = exc.error_code
        message = plain_register_error(exc.error_code, exc.error_message)
    except DarajaUnavailable:
        message = "M-Pesa did not answer. Nothing is lost: register again in a minute."
    registration.status, registration.message, registration.daraja_error_code = status, message[:255], code[:32]
    if status == Status.REGISTERED:
        registration.registered_at = timezone.now()
    registration.save(update_fields=["status", "message", "daraja_error_code", "registered_at", "updated_at"])
    logger.info("C2B registration %s: %s %s", registration.public_id, status, code)
    return registration


# --- Confirmations --------------------------------------------------------------------------------


class MalformedC2B(ValueError):
    pass


@dataclass
class C2BPayment:
    trans_id: str
    trans_amount: str
    amount: int | None
    review_reason: str
    shortcode: str
    transaction_type: str
    trans_time: object
    bill_ref_number: str
    invoice_number: str
    msisdn: str
    first_name: str
    middle_name: str
    last_name: str


def _field(body, name, limit, *, required=False) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise MalformedC2B(f"{name} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedC2B(f"{name} has the wrong type")
    text = str(value).strip()
    if "\x00" in text:
        raise MalformedC2B(f"{name} contains a NUL byte")
    if len(text) > limit:
        raise MalformedC2B(f"{name} is too long")
    return text


def parse_amount(value) -> tuple[int | None, str]:
    """TransAmount → (whole KES or None, review reason). Raises MalformedC2B when it is not a
    positive number. Cents are never rounded: the amount is None and the payment goes to review."""
    if isinstance(value, float):
        value = repr(value)
    amount = to_decimal(value) if isinstance(value, (str, int)) else None
    if amount is None or amount <= 0:
        raise MalformedC2B("TransAmount is not a positive number")
    if amount != amount.to_integral_value():
        return None, f"TransAmount {value} has cents: M-Pesa moves whole shillings, so it was not rounded."
    if amount > Decimal(10**9):
        raise MalformedC2B("TransAmount is too large")
    return int(amount), ""


def parse_confirmation(body, registration: C2BRegistration) -> C2BPayment:
    if not isinstance(body, dict):
        raise MalformedC2B("body is not an object")
    trans_id = _field(body, "TransID", 32, required=True)
    if not trans_id.isalnum():
        raise MalformedC2B("TransID is not alphanumeric")
    raw_amount = body.get("TransAmount")
    amount, review = parse_amount(raw_amount)
    shortcode = _field(body, "BusinessShortCode", 7, required=True)
    if shortcode not in {registration.shortcode, registration.till_number} - {""}:
        raise MalformedC2B("BusinessShortCode is not this registration's shortcode")
    return C2BPayment(
        trans_id=trans_id,
        trans_amount=str(raw_amount)[:20],
        amount=amount,
        review_reason=review,
        shortcode=shortcode,
        transaction_type=_field(body, "TransactionType", 32),
        trans_time=parse_transaction_date(_field(body, "TransTime", 20)),
        bill_ref_number=_field(body, "BillRefNumber", 64),
        invoice_number=_field(body, "InvoiceNumber", 64),
        msisdn=_field(body, "MSISDN", 80),
        first_name=_field(body, "FirstName", 64),
        middle_name=_field(body, "MiddleName", 64),
        last_name=_field(body, "LastName", 64),
    )


def c2b_receipt_record(*, registration: C2BRegistration, payment: C2BPayment, raw: dict, then=None) -> C2BReceipt | None:
    """Record a confirmation once by TransID and hand it to the owning app, in one transaction.

    Returns the new receipt, or None for a duplicate (then nothing changed: the row that holds
    the TransID wins, even against a concurrent insert, which waits for it on PostgreSQL).
    ``then(receipt_or_none)`` runs in the same transaction (the view records the delivery's outcome).
    """
    with transaction.atomic():
        receipt = sql.insert(
            C2BReceipt(
                business_id=registration.business_id,
                registration=registration,
                trans_id=payment.trans_id,
                transaction_type=payment.transaction_type,
                trans_time=payment.trans_time,
                trans_amount=payment.trans_amount,
                amount=payment.amount,
                shortcode=payment.shortcode,
                bill_ref_number=payment.bill_ref_number,
                invoice_number=payment.invoice_number,
                msisdn=payment.msisdn,
                first_name=payment.first_name,
                middle_name=payment.middle_name,
                last_name=payment.last_name,
                status=C2BReceipt.Status.REVIEW if payment.review_reason else C2BReceipt.Status.UNMATCHED,
                review_reason=payment.review_reason,
                raw=raw,
            ),
            unless_exists="trans_id",
        )
        if receipt is not None:
            hooks().on_receipt(receipt)
        if then is not None:
            then(receipt)
    if receipt is not None:
        logger.info("C2B receipt %s recorded: %s", receipt.public_id, receipt.status)
    return receipt


# --- Validation -----------------------------------------------------------------------------------


def c2b_validate(*, registration: C2BRegistration, body) -> dict:
    """Daraja's validation question, answered within its ~8 s: accept, or reject an unknown
    account number with C2B00012 when the owner chose so. A paybill payment to an open invoice's
    account number is accepted; a till payment (no account number) is always accepted.

    The lookup runs under a statement timeout on PostgreSQL (MPESA_C2B_VALIDATION_BUDGET_MS): a
    slow database answers by the owner's choice instead of holding the thread past Daraja's wait.
    """
    account = body.get("BillRefNumber") if isinstance(body, dict) else None
    account = account.strip() if isinstance(account, str) else ""
    if not account or "\x00" in account or registration.accept_unknown_accounts:
        return ACCEPT
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = %s", [int(settings.MPESA_C2B_VALIDATION_BUDGET_MS)])
                known = hooks().account_open(registration, account)
        else:
            # SQLite transactions here BEGIN IMMEDIATE (one writer): a read needs none.
            known = hooks().account_open(registration, account)
    except Exception as exc:  # a timeout or a lost connection: answer, never hang
        # Refusing a customer's money because our database was slow is worse than an unmatched
        # payment the owner attaches later: accept.
        logger.warning("C2B validation lookup failed (%s); accepting", type(exc).__name__)
        known = True
    return ACCEPT if known else REJECT_ACCOUNT
