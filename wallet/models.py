import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from payme.models import TimeStampedModel


class Wallet(TimeStampedModel):
    """One per business. ``balance`` is a cache of Σ entries, changed only with an entry."""

    business = models.OneToOneField("accounts.Business", on_delete=models.CASCADE, related_name="wallet")
    balance = models.BigIntegerField(default=0, help_text="Tokens. Equals the sum of the ledger entries.")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")]

    def __str__(self):
        return f"{self.business} – {self.balance} tokens"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Ledger entries are append-only.")

    def delete(self):
        raise PermissionError("Ledger entries are append-only.")


class WalletEntry(models.Model):
    """Append-only ledger line. ``reference`` is the idempotency key: one entry per cause."""

    class Kind(models.TextChoices):
        CREDIT = "credit", "Credit"
        DEBIT = "debit", "Debit"

    class Cause(models.TextChoices):
        PURCHASE = "purchase", "Token purchase"
        SALE_FEE = "sale_fee", "Sale fee"
        HOLD = "hold", "Hold"
        RELEASE = "release", "Hold released"
        SPEND = "spend", "Spend"
        ADJUSTMENT = "adjustment", "Operator adjustment"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    tokens = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    cause = models.CharField(max_length=16, choices=Cause.choices)
    reference = models.CharField(max_length=100, unique=True, help_text="Idempotency reference, unique.")
    description = models.CharField(max_length=255, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "wallet entries"
        constraints = [
            models.CheckConstraint(condition=Q(tokens__gt=0), name="wallet_entry_tokens_positive"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="wallet_entry_balance_after_not_negative"),
        ]
        indexes = [models.Index(fields=["wallet", "-id"], name="wallet_entry_newest_idx")]

    def __str__(self):
        sign = "+" if self.kind == self.Kind.CREDIT else "-"
        return f"{sign}{self.tokens} ({self.get_cause_display()})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Ledger entries are append-only.")

    @property
    def signed_tokens(self) -> int:
        return self.tokens if self.kind == self.Kind.CREDIT else -self.tokens


class TokenPurchase(TimeStampedModel):
    """Buying tokens by STK push on the platform paybill."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="token_purchases")
    push = models.OneToOneField("mpesa.StkPush", on_delete=models.PROTECT, related_name="token_purchase")
    amount = models.PositiveIntegerField(help_text="KES paid.")
    tokens = models.PositiveBigIntegerField(help_text="Tokens credited on success.")
    phone = models.CharField(max_length=12)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=255, blank=True, help_text="Why it did not succeed, in plain words.")
    mpesa_receipt = models.CharField(max_length=32, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="token_purchase_amount_positive"),
            models.CheckConstraint(condition=Q(tokens__gt=0), name="token_purchase_tokens_positive"),
        ]

    def __str__(self):
        return f"KES {self.amount} → {self.tokens} tokens ({self.status})"


class TokenHold(TimeStampedModel):
    """Tokens set aside (debited) until a sale settles: captured on success, released otherwise."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"

    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    reference = models.CharField(max_length=100, unique=True)
    tokens = models.PositiveBigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(tokens__gt=0), name="token_hold_tokens_positive")]

    def __str__(self):
        return f"{self.tokens} tokens {self.status}"
