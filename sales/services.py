"""Sales and stock. Stock changes only here, under a row lock on the product, through an
append-only StockMovement with a unique reference. Products are always locked in id order."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from mpesa import rules
from mpesa.models import StkPush
from mpesa.selectors import stk_push_reason
from mpesa.services import stk_push_create, stk_push_enqueue
from payme import sql
from payme.errors import Conflict, NotFound, ValidationFailed
from payment_configs.models import PaymentConfig
from payment_configs.selectors import active_config_for
from payment_configs.services import PaymentConfigMissing
from sales.models import Product, Sale, SaleItem, StockMovement
from wallet.services import wallet_capture, wallet_hold, wallet_recapture, wallet_release
from webhooks.services import event_emit

DEFAULT_DESCRIPTION = "Payment"


def daraja_description(text: str) -> str:
    """TransactionDesc for Daraja (at most 13 characters) from what the cashier typed (up to 100,
    kept whole on the sale): whole words while they fit, else the first 13 characters.
    "Parking fee for slot 5" → "Parking fee"."""
    text = " ".join(text.split())
    limit = rules.TRANSACTION_DESC_MAX
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    return head.rsplit(" ", 1)[0] if " " in head else text[:limit]


def daraja_account_reference(text: str) -> str:
    """AccountReference for Daraja (at most 12 characters; the customer sees it in the prompt)
    from what the cashier typed (up to 40, kept whole on the sale): spaces and dashes go first,
    so "Parking slot 5" → "Parkingslot5"; anything still too long keeps its first 12."""
    text = " ".join(text.split())
    limit = rules.ACCOUNT_REFERENCE_MAX
    if len(text) <= limit:
        return text
    return text.replace(" ", "").replace("-", "")[:limit]


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class SkuTaken(ValidationFailed):
    code = "sku_taken"
    default_message = "A product with this SKU already exists (SKUs ignore letter case)."

    def __init__(self):
        super().__init__(fields={"sku": ["Already used by another product (letter case does not count)."]})


class PaymentConfigUnverified(Conflict):
    code = "payment_config_unverified"
    default_message = "Verify your Till or Paybill before charging customers."


# --- Stock ------------------------------------------------------------------------------------


def _move_stock(*, product: Product, delta: int, reason: str, reference: str, sale=None, author=None) -> StockMovement | None:
    """Change one product's stock. The product row must already be locked by the caller.
    Idempotent on ``reference``. Returns None if applying it would make stock negative."""
    existing = StockMovement.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    if product.stock + delta < 0:
        return None
    Product.objects.filter(pk=product.pk).update(stock=F("stock") + delta, updated_at=timezone.now())
    product.stock += delta
    return StockMovement.objects.create(
        business_id=product.business_id, product=product, sale=sale, delta=delta,
        stock_after=product.stock, reason=reason, reference=reference, author=author,
    )


def _lock_products(ids) -> dict[int, Product]:
    return {p.pk: p for p in Product.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


# --- Products ---------------------------------------------------------------------------------


def product_create(*, business, name: str, sku: str, price: int, stock: int = 0, author=None) -> Product:
    with transaction.atomic():
        if Product.objects.filter(business=business, sku__iexact=sku).exists():
            raise SkuTaken()
        try:
            with transaction.atomic():
                product = Product.objects.create(business=business, name=name, sku=sku, price=price, stock=0)
        except IntegrityError:
            raise SkuTaken() from None  # a concurrent create of the same SKU won the race
        if stock:
            _move_stock(product=product, delta=stock, reason=StockMovement.Reason.INITIAL, reference=f"initial:{product.public_id}", author=author)
    return product


def product_update(*, business, product_id, changes: dict, author=None) -> Product:
    """Partial update. A new ``stock`` is recorded as an adjustment movement of the difference."""
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(business=business, public_id=product_id).first()
        if product is None:
            raise NotFound()
        if "sku" in changes and changes["sku"] != product.sku:
            if Product.objects.filter(business=business, sku__iexact=changes["sku"]).exclude(pk=product.pk).exists():
                raise SkuTaken()
        new_stock = changes.pop("stock", None)
        for name, value in changes.items():
            setattr(product, name, value)
        try:
            with transaction.atomic():
                product.save()
        except IntegrityError:
            if "sku" not in changes:
                raise
            raise SkuTaken() from None  # a concurrent change to the same SKU won the race
        if new_stock is not None and new_stock != product.stock:
            _move_stock(product=product, delta=new_stock - product.stock, reason=StockMovement.Reason.ADJUST, reference=f"adjust:{uuid.uuid4()}", author=author)
    return product


def product_restock(*, product_pk: int, delta: int, author=None) -> Product:
    """Add (or, negative, remove) units under the product's row lock, as a stock movement.
    Raises ValidationFailed when removing more than is in stock."""
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_pk)
        if delta and _move_stock(product=product, delta=delta, reason=StockMovement.Reason.ADJUST, reference=f"adjust:{uuid.uuid4()}", author=author) is None:
            raise ValidationFailed(f"Only {product.stock} in stock.", fields={"stock_change": [f"Only {product.stock} in stock."]})
    return product


def product_deactivate(*, business, product_id) -> None:
    updated = Product.objects.filter(business=business, public_id=product_id).update(is_active=False, updated_at=timezone.now())
    if not updated:
        raise NotFound()


# --- Starting a sale --------------------------------------------------------------------------


def _usable_config(business) -> PaymentConfig:
    config = active_config_for(business=business)
    if config is None:
        raise PaymentConfigMissing()
    if settings.SALES_REQUIRE_VERIFIED_CONFIG and not config.verified:
        raise PaymentConfigUnverified(extra={"verify_url": "/api/payment-config/verify"})
    return config


def _cart_lines(business, items):
    """Merge duplicate lines, resolve products (this business only), lock them in id order."""
    wanted: dict[str, int] = {}
    positions: dict[str, int] = {}
    for index, line in enumerate(items):
        key = str(line["product_id"])
        wanted[key] = wanted.get(key, 0) + line["quantity"]
        positions.setdefault(key, index)
    found = dict(Product.objects.filter(business=business, public_id__in=list(wanted)).values_list("public_id", "pk"))
    found = {str(k): v for k, v in found.items()}
    for key, index in positions.items():
        if key not in found:
            raise ValidationFailed(
                "This product does not exist.", code="unknown_product",
                fields={f"items.{index}.product_id": ["Unknown product."]},
            )
    locked = _lock_products(found.values())
    lines = []
    for key, quantity in wanted.items():
        product = locked[found[key]]
        index = positions[key]
        if not product.is_active:
            raise ValidationFailed(
                f"{product.name} is no longer sold.", code="product_inactive",
                fields={f"items.{index}.product_id": ["This product is inactive."]},
            )
        if product.stock < quantity:
            raise InsufficientStock(
                f"Not enough {product.name} in stock: {product.stock} left, {quantity} asked.",
                fields={f"items.{index}.quantity": [f"Only {product.stock} in stock."]},
                extra={"product_id": str(product.public_id), "product": product.name, "available": product.stock},
            )
        lines.append((product, quantity))
    return sorted(lines, key=lambda pair: pair[0].pk)


def sale_create(
    *,
    business,
    phone: str,
    amount: int | None = None,
    items: list | None = None,
    account_reference: str | None = None,
    description: str | None = None,
    user=None,
    config: PaymentConfig | None = None,
    savepoint: bool = True,
) -> Sale:
    """The transactional half of starting a sale: reserve stock (products locked in id order),
    hold the token fee, record the sale and its push — all or nothing. Nothing is sent.
    ``config`` is the business's usable config when the caller has looked it up already.
    ``savepoint=False`` joins the caller's transaction without a savepoint (as
    ``transaction.atomic(savepoint=False)``): for a caller whose transaction ends with the refusal
    anyway, such as an API request's (payme/idempotency.py), it saves two statements. A caller
    that catches the refusal and goes on inside its own transaction keeps the default.

    Raises ValidationFailed, InsufficientStock (409), PaymentConfigMissing (409),
    PaymentConfigUnverified (409), PromptInProgress (409), InsufficientTokens (402).
    """
    config = config or _usable_config(business)
    fee = settings.SALES_TOKEN_FEE
    account_reference = " ".join((account_reference or config.account_reference).split())
    description = " ".join((description or DEFAULT_DESCRIPTION).split())
    with transaction.atomic(savepoint=savepoint):
        lines = _cart_lines(business, items) if items else []
        total = sum(product.price * quantity for product, quantity in lines) if lines else amount
        if not 1 <= total <= settings.MPESA_MAX_AMOUNT:
            raise ValidationFailed(
                f"The total must be between 1 and {settings.MPESA_MAX_AMOUNT} shillings (it is {total}).",
                code="amount_out_of_range",
                fields={"items" if lines else "amount": [f"Total {total} is out of range."]},
            )
        push = stk_push_create(
            business=business,
            purpose=StkPush.Purpose.SALE,
            shortcode=config.shortcode,
            party_b=config.party_b,
            transaction_type=config.transaction_type,
            amount=total,
            phone=phone,
            account_reference=daraja_account_reference(account_reference),
            description=daraja_description(description),
        )
        sale = sql.insert(Sale(
            business=business,
            push=push,
            phone=phone,
            amount=total,
            account_reference=account_reference,
            description=description,
            stock_state=Sale.StockState.RESERVED if lines else Sale.StockState.NONE,
            token_fee=fee,
            created_by=user,
        ))
        items = SaleItem.objects.bulk_create(
            [SaleItem(sale=sale, product=product, quantity=quantity, unit_price=product.price) for product, quantity in lines]
        )
        _known_items(sale, items)
        for product, quantity in lines:
            _move_stock(product=product, delta=-quantity, reason=StockMovement.Reason.RESERVE, reference=f"reserve:{sale.public_id}:{product.pk}", sale=sale)
        if fee > 0:
            wallet_hold(business=business, tokens=fee, reference=f"sale:{sale.public_id}")
    return sale


def _known_items(sale: Sale, items: list[SaleItem]) -> None:
    """Give ``sale.items`` the rows just written, as ``prefetch_related`` would: the API's answer
    lists them without a query (and without compiling one) in the request that wrote them."""
    queryset = sale.items.all()  # lazy: no query runs
    queryset._result_cache = items
    queryset._prefetch_done = True
    sale._prefetched_objects_cache = {SaleItem._meta.get_field("sale").remote_field.cache_name: queryset}


def sale_start(*, business, phone: str, user=None, **kwargs) -> Sale:
    """``sale_create``, and its STK push sent by a worker once the transaction commits.

    Answers at once with the sale ``pending``: what Daraja says arrives on the record (a refusal
    fails the sale and releases its stock and token hold, with a plain ``reason``). Raises only
    what can be refused before Daraja (see ``sale_create``). Call it inside the request's
    transaction or on its own: the send waits for the outermost commit either way.
    """
    # No transaction of its own: sale_create's is the one that matters (a second one would only
    # add a savepoint), and on_commit waits for the outermost commit, or runs at once outside one.
    sale = sale_create(business=business, phone=phone, user=user, **kwargs)
    stk_push_enqueue(sale.push)
    return sale


# --- Completion (registered handler) ----------------------------------------------------------

_SALE_STATUS = {
    StkPush.Status.FAILED: Sale.Status.FAILED,
    StkPush.Status.CANCELLED: Sale.Status.CANCELLED,
    StkPush.Status.EXPIRED: Sale.Status.EXPIRED,
    StkPush.Status.NEEDS_REVIEW: Sale.Status.FAILED,
}


def _release_stock(sale: Sale) -> None:
    items = list(sale.items.all())
    locked = _lock_products([item.product_id for item in items])
    for item in items:
        _move_stock(product=locked[item.product_id], delta=item.quantity, reason=StockMovement.Reason.RELEASE, reference=f"release:{sale.public_id}:{item.product_id}", sale=sale)
    sale.stock_state = Sale.StockState.RELEASED


def _retake_stock(sale: Sale) -> bool:
    """A late payment: take the stock again if every line is still available (all or nothing)."""
    items = list(sale.items.all())
    locked = _lock_products([item.product_id for item in items])
    if any(locked[item.product_id].stock < item.quantity for item in items):
        return False
    for item in items:
        _move_stock(product=locked[item.product_id], delta=-item.quantity, reason=StockMovement.Reason.RETAKE, reference=f"retake:{sale.public_id}:{item.product_id}", sale=sale)
    sale.stock_state = Sale.StockState.COMMITTED
    return True


def on_sale_push_change(push: StkPush, previous_status: str) -> None:
    """Runs inside the push's transaction (push row locked). Idempotent per transition."""
    sale = Sale.objects.select_for_update().get(push=push)
    hold_reference = f"sale:{sale.public_id}"
    if push.status == StkPush.Status.SUCCEEDED and previous_status == StkPush.Status.SUCCEEDED:
        # Paid through reconciliation, and now the callback brings the receipt: nothing else moves.
        if sale.status == Sale.Status.PAID and not sale.mpesa_receipt and push.mpesa_receipt:
            sale.mpesa_receipt = push.mpesa_receipt
            sale.save(update_fields=["mpesa_receipt", "updated_at"])
        return
    if push.status == StkPush.Status.SUCCEEDED:
        sale.status = Sale.Status.PAID
        sale.reason = ""
        sale.mpesa_receipt = push.mpesa_receipt or ""
        sale.paid_at = push.transaction_date or timezone.now()
        if sale.stock_state == Sale.StockState.RESERVED:
            sale.stock_state = Sale.StockState.COMMITTED
        elif sale.stock_state == Sale.StockState.RELEASED and not _retake_stock(sale):
            sale.needs_review = True
            sale.review_reason = "Paid after the prompt had expired, but the stock was sold meanwhile: refund or deliver by hand."
        if sale.token_fee:
            hold = wallet_capture(reference=hold_reference)
            if hold is not None and hold.status != hold.Status.CAPTURED and not wallet_recapture(business=sale.business, reference=hold_reference):
                sale.needs_review = True
                sale.review_reason = (sale.review_reason + " Token fee could not be charged (wallet empty).").strip()
    else:
        sale.status = _SALE_STATUS.get(push.status, Sale.Status.FAILED)
        if push.status == StkPush.Status.NEEDS_REVIEW:
            sale.needs_review = True
            sale.review_reason = push.review_reason
            sale.reason = "The payment details did not match the request; flagged for review."
        else:
            sale.reason = stk_push_reason(push)
        if sale.stock_state == Sale.StockState.RESERVED:
            _release_stock(sale)
        if sale.token_fee:
            wallet_release(reference=hold_reference)
    sale.save()
    event_emit(business=sale.business_id, type="sale.paid" if sale.status == Sale.Status.PAID else "sale.failed", data=_sale_event_data(sale))


def _sale_event_data(sale: Sale) -> dict:
    """What the business already sees of a sale in GET /api/sales/<id>: never the push's
    callback token or raw Daraja bodies."""
    return {
        "object": "sale", "id": str(sale.public_id), "status": sale.status, "amount": sale.amount, "phone": sale.phone,
        "account_reference": sale.account_reference, "description": sale.description,
        "mpesa_receipt": sale.mpesa_receipt, "reason": sale.reason,
        "paid_at": sale.paid_at.isoformat() if sale.paid_at else None,
        "needs_review": sale.needs_review, "created_at": sale.created_at.isoformat(),
    }


# --- Invoices: paid by C2B from the phone menu ---------------------------------------------------

# No 0/O and no 1/I: a customer reads the account number off a screen or a receipt and types it.
ACCOUNT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
ACCOUNT_NUMBER_LENGTH = 8  # 32**8 ≈ 1.1e12: collisions are retried, the unique constraint backs it


class PaybillRequired(Conflict):
    code = "paybill_required"
    default_message = "Invoices are paid to a paybill with an account number; a till has no account number."


class C2BPaymentNotOpen(Conflict):
    code = "c2b_payment_not_unmatched"
    default_message = "This payment is already matched, or was left unmatched."


class SaleNotOpen(Conflict):
    code = "sale_not_open"
    default_message = "Only an unpaid invoice (awaiting payment or expired) can take a payment."


class AmountMismatch(Conflict):
    code = "amount_mismatch"


def new_account_number() -> str:
    return "".join(secrets.choice(ACCOUNT_ALPHABET) for _ in range(ACCOUNT_NUMBER_LENGTH))


def normalize_account_number(value: str) -> str:
    """What customers type, as we compare it: trimmed, upper case, inner spaces dropped."""
    return "".join(str(value or "").split()).upper()


def invoice_create(
    *,
    business,
    amount: int | None = None,
    items: list | None = None,
    phone: str = "",
    description: str | None = None,
    user=None,
) -> Sale:
    """A sale the customer pays from the M-Pesa menu to the config's paybill, with a generated
    account number. Stock is reserved in the same transaction (products locked in id order) and
    released if the invoice expires. Nothing is sent to Daraja.

    Raises ValidationFailed, InsufficientStock (409), PaymentConfigMissing (409),
    PaymentConfigUnverified (409), PaybillRequired (409).
    """
    config = _usable_config(business)
    if config.method != PaymentConfig.Method.PAYBILL:
        raise PaybillRequired(extra={"setup_url": "/api/payment-config/setup"})
    with transaction.atomic():
        lines = _cart_lines(business, items) if items else []
        total = sum(product.price * quantity for product, quantity in lines) if lines else amount
        if not 1 <= total <= settings.MPESA_MAX_AMOUNT:
            raise ValidationFailed(
                f"The total must be between 1 and {settings.MPESA_MAX_AMOUNT} shillings (it is {total}).",
                code="amount_out_of_range",
                fields={"items" if lines else "amount": [f"Total {total} is out of range."]},
            )
        account_number = new_account_number()
        while Sale.objects.filter(account_number=account_number).exists():
            account_number = new_account_number()
        sale = Sale.objects.create(
            business=business,
            channel=Sale.Channel.C2B,
            status=Sale.Status.AWAITING_PAYMENT,
            phone=phone or "",
            amount=total,
            account_reference=account_number,
            account_number=account_number,
            paybill=config.shortcode,
            description=description or DEFAULT_DESCRIPTION,
            expires_at=timezone.now() + timedelta(seconds=settings.SALES_INVOICE_EXPIRY_SECONDS),
            stock_state=Sale.StockState.RESERVED if lines else Sale.StockState.NONE,
            created_by=user,
        )
        SaleItem.objects.bulk_create(
            [SaleItem(sale=sale, product=product, quantity=quantity, unit_price=product.price) for product, quantity in lines]
        )
        for product, quantity in lines:
            _move_stock(product=product, delta=-quantity, reason=StockMovement.Reason.RESERVE, reference=f"reserve:{sale.public_id}:{product.pk}", sale=sale)
    return sale


def _pay_invoice(sale: Sale, receipt) -> None:
    """Both rows locked by the caller. The receipt's amount equals the sale's."""
    now = timezone.now()
    sale.status = Sale.Status.PAID
    sale.reason = ""
    sale.mpesa_receipt = receipt.trans_id
    sale.paid_at = receipt.trans_time or now
    sale.c2b_receipt = receipt
    if sale.stock_state == Sale.StockState.RESERVED:
        sale.stock_state = Sale.StockState.COMMITTED
    elif sale.stock_state == Sale.StockState.RELEASED and not _retake_stock(sale):
        sale.needs_review = True
        sale.review_reason = "Paid after the invoice had expired, but the stock was sold meanwhile: refund or deliver by hand."
    sale.save()
    receipt.status = receipt.Status.MATCHED
    receipt.review_reason = ""
    receipt.matched_at = now
    receipt.save(update_fields=["status", "review_reason", "matched_at", "updated_at"])
    event_emit(business=sale.business_id, type="invoice.paid", data=_invoice_event_data(sale, receipt))


def _invoice_event_data(sale: Sale, receipt) -> dict:
    """The sale as the business sees it, with the invoice's account number and the payment that paid it."""
    return {**_sale_event_data(sale), "account_number": sale.account_number, "paybill": sale.paybill,
            "c2b_payment_id": str(receipt.public_id)}


def _c2b_event_data(receipt) -> dict:
    """What GET /api/c2b-payments shows of a receipt: never its raw Daraja body."""
    sale = getattr(receipt, "sale", None) if receipt.status == receipt.Status.MATCHED else None
    return {
        "object": "c2b_payment", "id": str(receipt.public_id), "status": receipt.status, "receipt": receipt.trans_id,
        "transaction_type": receipt.transaction_type, "amount": receipt.amount, "trans_amount": receipt.trans_amount,
        "shortcode": receipt.shortcode, "account_number": receipt.bill_ref_number, "msisdn": receipt.msisdn,
        "payer_name": receipt.payer_name, "paid_at": receipt.trans_time.isoformat() if receipt.trans_time else None,
        "review_reason": receipt.review_reason, "sale_id": str(sale.public_id) if sale is not None else None,
        "created_at": receipt.created_at.isoformat(),
    }


def _to_review(receipt, reason: str) -> None:
    receipt.status = receipt.Status.REVIEW
    receipt.review_reason = reason[:255]
    receipt.save(update_fields=["status", "review_reason", "updated_at"])


def on_c2b_receipt(receipt) -> None:
    """Registered with ``mpesa.c2b``: runs in the transaction that recorded a new C2B receipt
    (once per TransID: a duplicate confirmation never gets here). Matches it, then emits
    ``c2b.received`` with the receipt as matching left it (and ``invoice.paid`` when it paid one)."""
    _match_receipt(receipt)
    event_emit(business=receipt.business_id, type="c2b.received", data=_c2b_event_data(receipt))


def _match_receipt(receipt) -> None:
    """An account number that is an unpaid invoice of the receipt's business (case-insensitive,
    trimmed) and the exact amount pay it; another amount sends the receipt (and flags the
    invoice) to review; anything else stays unmatched for the owner.
    """
    account = normalize_account_number(receipt.bill_ref_number)
    if not account:
        return
    sale = Sale.objects.select_for_update().filter(business_id=receipt.business_id, account_number=account).first()
    if sale is None:
        return
    if sale.status not in (Sale.Status.AWAITING_PAYMENT, Sale.Status.EXPIRED) or sale.c2b_receipt_id:
        _to_review(receipt, f"Paid to invoice {account}, which is already {sale.get_status_display().lower()}.")
        return
    if receipt.amount is None or receipt.amount != sale.amount:
        paid = receipt.amount if receipt.amount is not None else receipt.trans_amount
        reason = f"Paid KES {paid} to invoice {account} of KES {sale.amount}: refund or settle by hand."
        if receipt.review_reason:
            reason = f"{receipt.review_reason} {reason}"
        _to_review(receipt, reason)
        sale.needs_review = True
        sale.review_reason = reason[:255]
        sale.save(update_fields=["needs_review", "review_reason", "updated_at"])
        return
    _pay_invoice(sale, receipt)


def invoice_account_open(registration, account_number: str) -> bool:
    """For C2B validation: is this an unpaid invoice of the registration's business?"""
    return Sale.objects.filter(
        business_id=registration.business_id,
        account_number=normalize_account_number(account_number),
        status=Sale.Status.AWAITING_PAYMENT,
    ).exists()


def c2b_payment_match(*, business, receipt_id, sale_id) -> Sale:
    """The owner attaches an unmatched C2B payment to an unpaid invoice of the same business.
    The amount must be exactly the invoice's. Locks the receipt, then the sale.

    Raises NotFound (either is another business's or unknown), C2BPaymentNotOpen,
    SaleNotOpen, AmountMismatch (409)."""
    from mpesa.models import C2BReceipt

    with transaction.atomic():
        receipt = C2BReceipt.objects.select_for_update().filter(business=business, public_id=receipt_id).first()
        if receipt is None:
            raise NotFound()
        sale = Sale.objects.select_for_update().filter(business=business, public_id=sale_id).first()
        if sale is None:
            raise NotFound("Sale not found.", fields={"sale_id": ["No such sale."]})
        if receipt.status != C2BReceipt.Status.UNMATCHED:
            raise C2BPaymentNotOpen()
        if sale.channel != Sale.Channel.C2B or sale.status not in (Sale.Status.AWAITING_PAYMENT, Sale.Status.EXPIRED) or sale.c2b_receipt_id:
            raise SaleNotOpen(fields={"sale_id": ["Not an unpaid invoice."]})
        if receipt.amount != sale.amount:
            raise AmountMismatch(
                f"The payment is KES {receipt.amount}; the invoice is KES {sale.amount}.",
                fields={"sale_id": ["The amounts differ."]},
            )
        _pay_invoice(sale, receipt)
    return sale


def c2b_payment_leave(*, business, receipt_id) -> None:
    """The owner leaves an unmatched payment as it is (it stays in the records, off the to-do list)."""
    from mpesa.models import C2BReceipt

    with transaction.atomic():
        receipt = C2BReceipt.objects.select_for_update().filter(business=business, public_id=receipt_id).first()
        if receipt is None:
            raise NotFound()
        if receipt.status != C2BReceipt.Status.UNMATCHED:
            raise C2BPaymentNotOpen()
        receipt.status = C2BReceipt.Status.LEFT
        receipt.save(update_fields=["status", "updated_at"])


def invoice_expire_due(*, now=None) -> int:
    """Expire unpaid invoices past ``expires_at`` and release their stock, one transaction each
    (sale locked, status re-checked: a payment that got there first wins). Returns how many."""
    now = now or timezone.now()
    due = list(
        Sale.objects.filter(status=Sale.Status.AWAITING_PAYMENT, expires_at__lte=now).order_by("expires_at").values_list("pk", flat=True)[:500]
    )
    expired = 0
    for sale_pk in due:
        with transaction.atomic():
            sale = Sale.objects.select_for_update().get(pk=sale_pk)
            if sale.status != Sale.Status.AWAITING_PAYMENT:
                continue
            sale.status = Sale.Status.EXPIRED
            sale.reason = "The invoice was not paid in time."
            if sale.stock_state == Sale.StockState.RESERVED:
                _release_stock(sale)
            sale.save()
            expired += 1
    return expired


def sale_refund_applied(*, sale_id: int, refunded_total: int, restock: bool, reference: str) -> Sale:
    """A refund of the sale succeeded (called by payouts inside the refund's transaction): record
    the refunded total (summed from the refund records, so a replay changes nothing), mark the
    sale ``partially_refunded`` / ``refunded``, and return the cart's stock once (per-product
    movements keyed by ``reference``). Locks the sale, then its products in id order."""
    sale = Sale.objects.select_for_update().get(pk=sale_id)
    sale.refunded_amount = min(refunded_total, sale.amount)
    sale.status = Sale.Status.REFUNDED if sale.refunded_amount >= sale.amount else Sale.Status.PARTIALLY_REFUNDED
    if restock and sale.stock_state == Sale.StockState.COMMITTED:
        items = list(sale.items.all())
        locked = _lock_products([item.product_id for item in items])
        for item in items:
            _move_stock(product=locked[item.product_id], delta=item.quantity, reason=StockMovement.Reason.REFUND,
                        reference=f"{reference}:{item.product_id}", sale=sale)
        sale.stock_state = Sale.StockState.RELEASED
    sale.save(update_fields=["refunded_amount", "status", "stock_state", "updated_at"])
    event_emit(business=sale.business_id, type="sale.refunded", data={**_sale_event_data(sale), "refunded_amount": sale.refunded_amount})
    return sale
