import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from payme.models import TimeStampedModel
from wallet.models import AppendOnlyQuerySet


class Product(TimeStampedModel):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=120)
    sku = models.CharField(max_length=40, help_text="Unique within the business, whatever the letter case.")
    price = models.PositiveIntegerField(help_text="Whole KES.")
    stock = models.IntegerField(default=0, help_text="Units available to sell (reserved units are already taken out).")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            # Case-insensitive: "bread-400" beside "BREAD-400" is one product typed twice (issue #13).
            models.UniqueConstraint("business", Lower("sku"), name="product_sku_unique_per_business_ci"),
            models.CheckConstraint(condition=Q(price__gt=0), name="product_price_positive"),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
        ]
        indexes = [models.Index(fields=["business", "name"], name="product_business_name_idx")]

    def __str__(self):
        return f"{self.name} ({self.sku})"


class Sale(TimeStampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment (invoice)"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    class StockState(models.TextChoices):
        NONE = "none", "No stock (ad-hoc amount)"
        RESERVED = "reserved", "Reserved"
        COMMITTED = "committed", "Committed"
        RELEASED = "released", "Released"

    class Channel(models.TextChoices):
        STK = "stk", "STK push (prompt)"
        C2B = "c2b", "Invoice (paid from the phone menu)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="sales")
    channel = models.CharField(max_length=3, choices=Channel.choices, default=Channel.STK)
    account_number = models.CharField(
        max_length=12, null=True, blank=True, unique=True,
        help_text="An invoice's generated account number (no 0/O or 1/I): the customer types it as the account.",
    )
    paybill = models.CharField(max_length=7, blank=True, help_text="An invoice's paybill number.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="An unpaid invoice expires then and releases its stock.")
    c2b_receipt = models.OneToOneField(
        "mpesa.C2BReceipt", null=True, blank=True, on_delete=models.PROTECT, related_name="sale",
        help_text="The C2B payment that paid this invoice.",
    )
    push = models.OneToOneField("mpesa.StkPush", null=True, blank=True, on_delete=models.PROTECT, related_name="sale")
    phone = models.CharField(max_length=12, blank=True, help_text="The customer's M-Pesa number (optional on an invoice).")
    amount = models.PositiveIntegerField(help_text="Whole KES.")
    account_reference = models.CharField(
        max_length=40,
        help_text="As the cashier typed it; the prompt shows it shortened to Daraja's 12 characters (the push keeps that).",
    )
    description = models.CharField(
        max_length=100,
        help_text="As the cashier typed it; Daraja gets it shortened to 13 characters (the push keeps that).",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=255, blank=True, help_text="Why it is not paid, in plain words.")
    mpesa_receipt = models.CharField(max_length=32, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    stock_state = models.CharField(max_length=10, choices=StockState.choices, default=StockState.NONE)
    token_fee = models.PositiveIntegerField(default=0)
    refunded_amount = models.PositiveIntegerField(default=0, help_text="KES refunded so far (succeeded refunds).")
    needs_review = models.BooleanField(default=False, db_index=True, help_text="Flagged for a human: see review_reason.")
    review_reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        # Newest first wherever sales are listed (the owner's admin list had no order at all).
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sale_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__lte=F("amount")), name="sale_refunded_not_above_amount"),
        ]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="sale_business_newest_idx"),
            models.Index(fields=["business", "status", "-created_at"], name="sale_business_status_idx"),
            models.Index(fields=["status", "expires_at"], name="sale_status_expires_idx"),
        ]

    def __str__(self):
        return f"KES {self.amount} from {self.phone} ({self.status})"


class SaleItem(models.Model):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    unit_price = models.PositiveIntegerField(help_text="KES at sale time.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="sale_item_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gt=0), name="sale_item_unit_price_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.product_id} @ {self.unit_price}"

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price


class StockMovement(models.Model):
    """Append-only record of every stock change, with a unique idempotency reference."""

    class Reason(models.TextChoices):
        INITIAL = "initial", "Initial stock"
        ADJUST = "adjust", "Owner adjustment"
        RESERVE = "reserve", "Reserved for a sale"
        RELEASE = "release", "Released (sale not paid)"
        RETAKE = "retake", "Taken again (late payment)"
        REFUND = "refund", "Returned by a refund"

    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    sale = models.ForeignKey(Sale, null=True, blank=True, on_delete=models.PROTECT, related_name="stock_movements")
    delta = models.IntegerField()
    stock_after = models.IntegerField()
    reason = models.CharField(max_length=10, choices=Reason.choices)
    reference = models.CharField(max_length=120, unique=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="stock_movement_delta_nonzero"),
            models.CheckConstraint(condition=Q(stock_after__gte=0), name="stock_movement_stock_after_not_negative"),
        ]

    def __str__(self):
        return f"{self.delta:+d} {self.product_id} ({self.reason})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Stock movements are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Stock movements are append-only.")
