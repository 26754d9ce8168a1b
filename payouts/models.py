import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from payme.encryption import EncryptedTextField
from payme.models import TimeStampedModel


class PayoutConfig(TimeStampedModel):
    """Money out of the business's own B2C account: its shortcode, its API initiator and limits.

    The initiator password (and an own Daraja app's key and secret) are encrypted at rest and
    write-only everywhere. At most one active config per business; a replaced one is kept.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.CASCADE, related_name="payout_configs")
    shortcode = models.CharField(max_length=7, help_text="The B2C (or one-account) shortcode money leaves from.")
    initiator_name = models.CharField(max_length=64, help_text="The API operator's username on the M-Pesa portal.")
    initiator_password = EncryptedTextField(help_text="The API operator's password. Encrypted; expires every 90 days.")
    consumer_key = EncryptedTextField(blank=True, help_text="This business's own Daraja app (optional). Encrypted.")
    consumer_secret = EncryptedTextField(blank=True, help_text="This business's own Daraja app (optional). Encrypted.")
    max_per_payout = models.PositiveIntegerField(default=70_000, help_text="Largest single payout or refund, KES.")
    daily_max = models.PositiveIntegerField(default=300_000, help_text="Most that may leave in one day (EAT), KES.")
    approval_threshold = models.PositiveIntegerField(
        default=10_000, help_text="Above this amount a second owner (or a platform superuser) must approve."
    )
    balance = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, help_text="Utility account, last answer.")
    balance_at = models.DateTimeField(null=True, blank=True)
    balance_command = models.ForeignKey("mpesa.DarajaCommand", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business"], condition=Q(is_active=True), name="payout_config_one_active_per_business"),
            models.CheckConstraint(condition=Q(max_per_payout__gt=0), name="payout_config_max_per_payout_positive"),
            models.CheckConstraint(condition=Q(daily_max__gt=0), name="payout_config_daily_max_positive"),
        ]

    def __str__(self):
        return f"{self.business} – B2C {self.shortcode}{'' if self.is_active else ' (inactive)'}"

    @property
    def uses_own_daraja_app(self) -> bool:
        return bool(self.consumer_key) and bool(self.consumer_secret)


class PayoutDay(models.Model):
    """One row per business and day (EAT): the lock that serialises the daily-limit check, so two
    concurrent payouts cannot pass the daily maximum together. Holds no total: the day's total
    is summed from the payouts under this lock."""

    business = models.ForeignKey("accounts.Business", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["business", "day"], name="payout_day_unique")]

    def __str__(self):
        return f"{self.business_id} {self.day}"


class Payout(TimeStampedModel):
    """Money out to a phone: a payout, or a refund of a paid sale (by B2C or by Reversal).

    Recorded with its unique OriginatorConversationID before anything is sent; the DarajaCommand
    that sends it is created when it may leave (at once, or when a second owner approves).
    """

    class Kind(models.TextChoices):
        PAYOUT = "payout", "Payout"
        REFUND = "refund", "Refund"

    class Method(models.TextChoices):
        B2C = "b2c", "B2C payment"
        REVERSAL = "reversal", "Reversal of the receipt"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        NEEDS_REVIEW = "needs_review", "Needs review"

    class Command(models.TextChoices):
        BUSINESS_PAYMENT = "BusinessPayment", "Business payment"
        SALARY_PAYMENT = "SalaryPayment", "Salary payment"
        PROMOTION_PAYMENT = "PromotionPayment", "Promotion payment"

    # Amounts that still count against the daily limit and the sale's refundable amount.
    COUNTING_STATUSES = (Status.AWAITING_APPROVAL, Status.PENDING, Status.SUCCEEDED, Status.NEEDS_REVIEW)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="payouts")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PAYOUT)
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.B2C)
    sale = models.ForeignKey("sales.Sale", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")
    restock = models.BooleanField(default=False, help_text="A refund that returns the cart's stock once it succeeds.")
    phone = models.CharField(max_length=12)
    amount = models.PositiveIntegerField(help_text="Whole KES.")
    command_id = models.CharField(max_length=20, choices=Command.choices, default=Command.BUSINESS_PAYMENT)
    remarks = models.CharField(max_length=100)
    day = models.DateField(help_text="The payout day (EAT) it counts against.")
    originator_conversation_id = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    reason = models.CharField(max_length=255, blank=True, help_text="Why it failed, was rejected or needs review, in plain words.")
    receipt = models.CharField(max_length=32, blank=True)
    recipient_name = models.CharField(max_length=120, blank=True)
    daraja_command = models.OneToOneField("mpesa.DarajaCommand", null=True, blank=True, on_delete=models.PROTECT, related_name="payout")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rejected_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    restocked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(kind="payout", sale__isnull=True) | Q(kind="refund", sale__isnull=False),
                                   name="payout_refund_has_sale"),
        ]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="payout_business_newest_idx"),
            models.Index(fields=["business", "day", "status"], name="payout_business_day_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} KES {self.amount} to {self.phone} ({self.status})"
