"""Every change to a wallet goes through ``_post_entry``: it moves the cached balance (refusing to
overdraw) with the wallet row locked and inserts one append-only entry with a unique reference —
all in the caller's transaction."""

from __future__ import annotations

import uuid
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import AuditContext, audit_record
from mpesa.models import StkPush
from mpesa.selectors import stk_push_reason
from mpesa.services import stk_push_create, stk_push_enqueue
from payme import sql
from payme.errors import PaymentRequired, ValidationFailed
from payment_configs.selectors import platform_credentials
from wallet.constants import WALLET_TRANSACTION_DESC, wallet_account_reference, wallet_paybill
from wallet.models import TokenHold, TokenPurchase, Wallet, WalletEntry
from webhooks.services import event_emit

Kind = WalletEntry.Kind
Cause = WalletEntry.Cause


class InsufficientTokens(PaymentRequired):
    code = "insufficient_tokens"
    default_message = "The wallet does not have enough tokens. Buy tokens first."


def wallet_create(*, business) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(business=business)
    return wallet


def _locked_wallet(business_id: int) -> Wallet:
    wallet = sql.select_by(Wallet, business_id=business_id, for_update=True)
    if wallet is None:
        Wallet.objects.get_or_create(business_id=business_id)
        wallet = sql.select_by(Wallet, business_id=business_id, for_update=True)
    return wallet


@cache
def _move_balance_sql(vendor: str) -> str:
    table, balance, updated_at, business = (sql.qn(n) for n in (Wallet._meta.db_table, "balance", "updated_at", "business_id"))
    return (
        f"UPDATE {table} SET {balance} = {balance} + %s, {updated_at} = %s "
        f"WHERE {business} = %s AND {balance} + %s >= 0 RETURNING {sql.qn('id')}, {balance}"
    )


def _move_balance(business_id: int, delta: int) -> tuple[int, int] | None:
    """``balance += delta`` unless that would go below zero, in one statement that also takes the
    row lock. Returns (wallet id, new balance), or None when the wallet is missing or short."""
    now = Wallet._meta.get_field("updated_at").get_db_prep_save(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(_move_balance_sql(connection.vendor), [delta, now, business_id, delta])
        return cursor.fetchone()


def _post_entry(*, business, kind, tokens: int, cause, reference: str, description: str = "", author=None) -> WalletEntry:
    """Must run inside a transaction. Idempotent on ``reference``: a second call with the same
    reference returns the first entry and changes nothing. Raises InsufficientTokens.

    The common case is two statements (plain SQL, see payme/sql.py): move the balance, which
    takes the wallet's row lock, then insert the entry unless its reference exists. A repeated
    reference moves the balance back; a missing or short wallet takes the slow path."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0:
        raise ValidationFailed("Tokens must be a positive whole number.", fields={"tokens": ["Must be > 0."]})
    business_id = getattr(business, "pk", business)
    delta = tokens if kind == Kind.CREDIT else -tokens
    moved = _move_balance(business_id, delta)
    if moved is None:
        # Missing or short: under the wallet's lock, a repeated reference still answers with its
        # entry before the balance is judged.
        wallet = _locked_wallet(business_id)
        existing = sql.select_by(WalletEntry, reference=reference)
        if existing is not None:
            return existing
        if wallet.balance + delta < 0:
            raise InsufficientTokens(extra={"balance": wallet.balance, "required": tokens})
        moved = _move_balance(business_id, delta)
    wallet_id, balance_after = moved
    entry = sql.insert(
        WalletEntry(
            wallet_id=wallet_id,
            business_id=business_id,
            kind=kind,
            tokens=tokens,
            balance_after=balance_after,
            cause=cause,
            reference=reference,
            description=description[:255],
            author=author,
        ),
        unless_exists="reference",
    )
    if entry is None:  # the reference was posted before: undo the move, answer with that entry
        _move_balance(business_id, -delta)
        return sql.select_by(WalletEntry, reference=reference)
    return entry


def wallet_credit(*, business, tokens: int, cause: str, reference: str, description: str = "", author=None) -> WalletEntry:
    with transaction.atomic():
        return _post_entry(business=business, kind=Kind.CREDIT, tokens=tokens, cause=cause, reference=reference, description=description, author=author)


def wallet_debit(*, business, tokens: int, cause: str, reference: str, description: str = "", author=None) -> WalletEntry:
    """Spend tokens; refuses to overdraw (InsufficientTokens, HTTP 402)."""
    with transaction.atomic():
        return _post_entry(business=business, kind=Kind.DEBIT, tokens=tokens, cause=cause, reference=reference, description=description, author=author)


def wallet_adjust(*, business, kind: str, tokens: int, reason: str, author, context: AuditContext | None = None) -> WalletEntry:
    """An operator's correction, with its reason and author, through the same ledger. Audited as
    ``wallet.adjusted``; a credit emits ``wallet.credited``."""
    if not reason.strip():
        raise ValidationFailed("An adjustment needs a reason.", fields={"reason": ["Required."]})
    with transaction.atomic():
        entry = _post_entry(
            business=business, kind=kind, tokens=tokens, cause=Cause.ADJUSTMENT,
            reference=f"adjust:{uuid.uuid4()}", description=reason, author=author,
        )
        audit_record(
            business=business, action="wallet.adjusted", object_type="wallet_entry", object_id=entry.reference,
            before={"balance": entry.balance_after - entry.signed_tokens},
            after={"balance": entry.balance_after, "kind": kind, "tokens": tokens, "reason": reason},
            context=context or AuditContext(actor=author),
        )
        if kind == Kind.CREDIT:
            _emit_credited(entry)
        return entry


def _emit_credited(entry: WalletEntry, purchase: TokenPurchase | None = None) -> None:
    data = {
        "object": "wallet_entry", "id": entry.reference, "cause": entry.cause, "tokens": entry.tokens,
        "balance": entry.balance_after, "description": entry.description,
    }
    if purchase is not None:
        data.update(purchase_id=str(purchase.public_id), amount=purchase.amount, phone=purchase.phone, mpesa_receipt=purchase.mpesa_receipt)
    event_emit(business=entry.business_id, type="wallet.credited", data=data)


# --- Holds ------------------------------------------------------------------------------------


def wallet_hold(*, business, tokens: int, reference: str) -> TokenHold:
    """Debit ``tokens`` now and remember them as held under ``reference`` (idempotent)."""
    with transaction.atomic():
        hold = TokenHold.objects.select_for_update().filter(reference=reference).first()
        if hold is not None:
            return hold
        _post_entry(business=business, kind=Kind.DEBIT, tokens=tokens, cause=Cause.HOLD, reference=f"hold:{reference}", description="Held for a sale fee")
        wallet = Wallet.objects.get(business=business)
        return TokenHold.objects.create(business=business, wallet=wallet, reference=reference, tokens=tokens)


def wallet_capture(*, reference: str) -> TokenHold | None:
    """The held tokens are spent for good (the sale was paid). Idempotent."""
    with transaction.atomic():
        hold = TokenHold.objects.select_for_update().filter(reference=reference).first()
        if hold is not None and hold.status == TokenHold.Status.HELD:
            hold.status = TokenHold.Status.CAPTURED
            hold.save(update_fields=["status", "updated_at"])
        return hold


def wallet_release(*, reference: str) -> TokenHold | None:
    """Give held tokens back (the sale failed). Idempotent; a captured hold stays captured."""
    with transaction.atomic():
        hold = TokenHold.objects.select_for_update().filter(reference=reference).first()
        if hold is None or hold.status != TokenHold.Status.HELD:
            return hold
        _post_entry(business=hold.business_id, kind=Kind.CREDIT, tokens=hold.tokens, cause=Cause.RELEASE, reference=f"release:{reference}", description="Sale fee hold released")
        hold.status = TokenHold.Status.RELEASED
        hold.save(update_fields=["status", "updated_at"])
        return hold


def wallet_recapture(*, business, reference: str) -> bool:
    """A released hold whose sale was paid late: take the fee again if the tokens are there."""
    with transaction.atomic():
        hold = TokenHold.objects.select_for_update().filter(reference=reference).first()
        if hold is None or hold.status != TokenHold.Status.RELEASED:
            return hold is not None
        try:
            _post_entry(business=business, kind=Kind.DEBIT, tokens=hold.tokens, cause=Cause.SALE_FEE, reference=f"fee:{reference}", description="Sale fee (late payment)")
        except InsufficientTokens:
            return False
        hold.status = TokenHold.Status.CAPTURED
        hold.save(update_fields=["status", "updated_at"])
        return True


# --- Purchases --------------------------------------------------------------------------------


def token_purchase_create(*, business, phone: str, amount: int, user=None, savepoint: bool = True) -> TokenPurchase:
    """Record a purchase and its push to the platform paybill 650880, account 37605544.
    ``savepoint``: as for ``sales.services.sale_create``."""
    tokens = amount * settings.WALLET_TOKENS_PER_KES
    paybill = wallet_paybill()
    with transaction.atomic(savepoint=savepoint):
        push = stk_push_create(
            business=business,
            purpose=StkPush.Purpose.WALLET_TOPUP,
            shortcode=paybill,
            party_b=paybill,
            transaction_type="CustomerPayBillOnline",
            amount=amount,
            phone=phone,
            account_reference=wallet_account_reference(),
            description=WALLET_TRANSACTION_DESC,
        )
        purchase = sql.insert(TokenPurchase(
            business=business, push=push, amount=amount, tokens=tokens, phone=phone, created_by=user
        ))
    return purchase


def token_purchase_start(*, business, phone: str, amount: int, user=None, savepoint: bool = True) -> TokenPurchase:
    """``token_purchase_create``, and its push sent by a worker once the transaction commits.
    Answers with the purchase ``pending``; Daraja's answer arrives on the record."""
    # No transaction of its own: token_purchase_create's is the one that matters (a second one
    # would only add a savepoint); on_commit waits for the outermost commit, or runs at once.
    purchase = token_purchase_create(business=business, phone=phone, amount=amount, user=user, savepoint=savepoint)
    stk_push_enqueue(purchase.push)
    return purchase


_STATUS_FROM_PUSH = {
    StkPush.Status.SUCCEEDED: TokenPurchase.Status.SUCCEEDED,
    StkPush.Status.FAILED: TokenPurchase.Status.FAILED,
    StkPush.Status.CANCELLED: TokenPurchase.Status.CANCELLED,
    StkPush.Status.EXPIRED: TokenPurchase.Status.EXPIRED,
    StkPush.Status.NEEDS_REVIEW: TokenPurchase.Status.FAILED,
}


def on_topup_push_change(push: StkPush, previous_status: str) -> None:
    """Registered handler: runs in the push's transaction. Credits exactly once on success."""
    # No lock of its own: a purchase changes only here, under its push's row lock.
    purchase = sql.select_by(TokenPurchase, push_id=push.pk)
    if purchase is None:
        raise TokenPurchase.DoesNotExist(f"No token purchase for push {push.pk}")
    if push.status == StkPush.Status.SUCCEEDED and previous_status == StkPush.Status.SUCCEEDED:
        # Settled by a query, and now the callback brings the receipt: the credit stays as it is.
        if not purchase.mpesa_receipt and push.mpesa_receipt:
            purchase.mpesa_receipt = push.mpesa_receipt
            sql.update(purchase, ["mpesa_receipt"])
        return
    purchase.status = _STATUS_FROM_PUSH.get(push.status, TokenPurchase.Status.PENDING)
    purchase.completed_at = timezone.now()
    if push.status == StkPush.Status.SUCCEEDED:
        purchase.reason = ""
        purchase.mpesa_receipt = push.mpesa_receipt or ""
        entry = _post_entry(
            business=purchase.business_id,
            kind=Kind.CREDIT,
            tokens=purchase.tokens,
            cause=Cause.PURCHASE,
            reference=f"purchase:{purchase.public_id}",
            description=f"KES {purchase.amount} via M-Pesa {push.mpesa_receipt or ''}".strip(),
        )
        _emit_credited(entry, purchase)
    elif push.status == StkPush.Status.NEEDS_REVIEW:
        purchase.reason = f"Held for review: {push.review_reason}"
    else:
        purchase.reason = stk_push_reason(push)
    sql.update(purchase, ["status", "completed_at", "reason", "mpesa_receipt"])


def wallet_credentials_for_push(push: StkPush):
    return platform_credentials(), settings.MPESA_PASSKEY_WALLET
