"""Sales and stock. Stock changes only here, under a row lock on the product, through an
append-only StockMovement with a unique reference. Products are always locked in id order."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mpesa import outcomes
from mpesa.models import StkPush
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


class InsufficientStock(Conflict):
    code = "insufficient_stock"


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
        if Product.objects.filter(business=business, sku=sku).exists():
            raise ValidationFailed("A product with this SKU already exists.", code="sku_taken", fields={"sku": ["Already used by another product."]})
        product = Product.objects.create(business=business, name=name, sku=sku, price=price, stock=0)
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
            if Product.objects.filter(business=business, sku=changes["sku"]).exclude(pk=product.pk).exists():
                raise ValidationFailed("A product with this SKU already exists.", code="sku_taken", fields={"sku": ["Already used by another product."]})
        new_stock = changes.pop("stock", None)
        for name, value in changes.items():
            setattr(product, name, value)
        product.save()
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
) -> Sale:
    """The transactional half of starting a sale: reserve stock (products locked in id order),
    hold the token fee, record the sale and its push — all or nothing. Nothing is sent.
    ``config`` is the business's usable config when the caller has looked it up already.

    Raises ValidationFailed, InsufficientStock (409), PaymentConfigMissing (409),
    PaymentConfigUnverified (409), PromptInProgress (409), InsufficientTokens (402).
    """
    config = config or _usable_config(business)
    fee = settings.SALES_TOKEN_FEE
    with transaction.atomic():
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
            account_reference=account_reference or config.account_reference,
            description=description or DEFAULT_DESCRIPTION,
        )
        sale = sql.insert(Sale(
            business=business,
            push=push,
            phone=phone,
            amount=total,
            account_reference=push.account_reference,
            description=push.description,
            stock_state=Sale.StockState.RESERVED if lines else Sale.StockState.NONE,
            token_fee=fee,
            created_by=user,
        ))
        SaleItem.objects.bulk_create(
            [SaleItem(sale=sale, product=product, quantity=quantity, unit_price=product.price) for product, quantity in lines]
        )
        for product, quantity in lines:
            _move_stock(product=product, delta=-quantity, reason=StockMovement.Reason.RESERVE, reference=f"reserve:{sale.public_id}:{product.pk}", sale=sale)
        if fee > 0:
            wallet_hold(business=business, tokens=fee, reference=f"sale:{sale.public_id}")
    return sale


def sale_start(*, business, phone: str, user=None, **kwargs) -> Sale:
    """``sale_create``, and its STK push sent by a worker once the transaction commits.

    Answers at once with the sale ``pending``: what Daraja says arrives on the record (a refusal
    fails the sale and releases its stock and token hold, with a plain ``reason``). Raises only
    what can be refused before Daraja (see ``sale_create``). Call it inside the request's
    transaction or on its own: the send waits for the outermost commit either way.
    """
    with transaction.atomic():
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
            sale.reason = outcomes.reason_for(push.result_code, push.result_desc)
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
