from django.db.models import Prefetch, Q

from mpesa.models import C2BReceipt
from sales.models import Product, Sale, SaleItem


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
