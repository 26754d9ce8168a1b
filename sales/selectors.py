from django.db.models import Prefetch, Q

from mpesa.models import C2BReceipt
from sales.models import Product, Sale, SaleItem, StockMovement


def products(*, business, search: str = "", include_inactive: bool = True):
    qs = Product.objects.filter(business=business)
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(sku__icontains=search))
    return qs.order_by("name", "id")


def product_get(*, business, public_id) -> Product | None:
    return Product.objects.filter(business=business, public_id=public_id).first()


def sales(*, business, status=None, date_from=None, date_to=None, phone=None, needs_review=None):
    qs = Sale.objects.filter(business=business)
    if status:
        qs = qs.filter(status=status)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    if phone:
        qs = qs.filter(phone=phone)
    if needs_review is not None:
        qs = qs.filter(needs_review=needs_review)
    # The answer shows the push's customer message only: its raw JSON columns stay in the database.
    return (
        qs.select_related("push")
        .defer("push__raw_request", "push__raw_response", "push__raw_callback")
        .prefetch_related(Prefetch("items", queryset=SaleItem.objects.select_related("product").order_by("id")))
        .order_by("-created_at", "-id")
    )


def sale_get(*, business, public_id) -> Sale | None:
    return sales(business=business).filter(public_id=public_id).first()


def c2b_payments(*, business, status=None):
    """Money that arrived without a prompt, newest first (the raw body stays in the database)."""
    qs = C2BReceipt.objects.filter(business=business).defer("raw").select_related("sale")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def c2b_payment_get(*, business, public_id) -> C2BReceipt | None:
    return c2b_payments(business=business).filter(public_id=public_id).first()


_STOCK_STEP_WORDS = {
    StockMovement.Reason.RESERVE: "held for this sale",
    StockMovement.Reason.RELEASE: "put back in stock (the sale was not paid)",
    StockMovement.Reason.RETAKE: "taken again for the late payment",
}
_LEDGER_STEP_WORDS = {"hold": "held for the sale fee", "release": "of the fee hold given back", "fee": "charged as the sale fee"}


def sale_timeline(*, business, sale: Sale) -> list:
    """The sale's story, oldest first: started (and by whom), the M-Pesa steps of its push, where
    its stock went, its token fee, its refunds (requested, approved or rejected, how they ended)
    and the webhook deliveries of its events (each attempt). Built from the rows we keep (no logging table)."""
    from mpesa.selectors import TimelineStep, ordered, push_timeline
    from payouts.models import Payout
    from payouts.selectors import payout_steps
    from wallet.models import WalletEntry
    from webhooks.selectors import webhook_timeline_steps

    who = f" by {sale.created_by.full_name or sale.created_by.email}" if sale.created_by_id else ""
    steps = [TimelineStep(sale.created_at, "created", f"Sale started{who}: KES {sale.amount:,} asked of {sale.phone}.")]
    if sale.push is not None:
        steps += push_timeline(sale.push)
    movements = StockMovement.objects.filter(business=business, sale=sale).select_related("product").order_by("id")
    for movement in movements:
        words = _STOCK_STEP_WORDS.get(movement.reason, movement.get_reason_display().lower())
        steps.append(TimelineStep(movement.created_at, "stock",
                                  f"{abs(movement.delta)} \u00d7 {movement.product.name} {words} (stock now {movement.stock_after})."))
    hold = f"sale:{sale.public_id}"
    entries = WalletEntry.objects.filter(business=business, reference__in=[f"{kind}:{hold}" for kind in _LEDGER_STEP_WORDS]).order_by("id")
    for entry in entries:
        words = _LEDGER_STEP_WORDS[entry.reference.split(":", 1)[0]]
        steps.append(TimelineStep(entry.created_at, "wallet", f"{entry.tokens:,} wallet tokens {words} (balance {entry.balance_after:,})."))
    refunds = Payout.objects.filter(business=business, sale=sale, kind=Payout.Kind.REFUND).select_related(
        "requested_by", "approved_by", "rejected_by").order_by("created_at", "id")
    for refund in refunds:
        steps += [TimelineStep(step.at, "refund", step.text) for step in payout_steps(refund, with_command=False)]
    steps += webhook_timeline_steps(business=business, object_id=sale.public_id)
    return ordered(steps)
