import uuid

from django.db import models
from django.db.models import Q

from payme.encryption import EncryptedTextField
from payme.models import TimeStampedModel


class PaymentConfig(TimeStampedModel):
    """How a business is paid: its own Till or Paybill on M-Pesa.

    Replacing a config deactivates the old one (kept for history); at most one is active.
    Secrets (passkey, consumer secret/key) are encrypted at rest and write-only everywhere.
    """

    class Method(models.TextChoices):
        TILL = "till", "Till (Buy Goods)"
        PAYBILL = "paybill", "Paybill"

    class Verification(models.TextChoices):
        NOT_STARTED = "not_started", "Not verified yet"
        PENDING = "pending", "Verification prompt sent"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Verification failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.CASCADE, related_name="payment_configs")
    method = models.CharField(max_length=8, choices=Method.choices)
    shortcode = models.CharField(
        max_length=7,
        help_text="The number the STK Password is built with: the paybill, or the till's store number (5–7 digits).",
    )
    till_number = models.CharField(max_length=7, blank=True, help_text="PartyB for a till; empty for a paybill.")
    passkey = EncryptedTextField(help_text="Lipa na M-Pesa Online passkey from Safaricom. Encrypted.")
    consumer_key = EncryptedTextField(blank=True, help_text="This business's own Daraja app (optional). Encrypted.")
    consumer_secret = EncryptedTextField(blank=True, help_text="This business's own Daraja app (optional). Encrypted.")
    account_reference = models.CharField(max_length=12, help_text="Shown in the prompt; ≤ 12 letters and digits.")
    account_name = models.CharField(max_length=100, blank=True)
    verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_status = models.CharField(max_length=16, choices=Verification.choices, default=Verification.NOT_STARTED)
    verification_message = models.CharField(max_length=255, blank=True, help_text="The last verification's outcome in plain words.")
    last_verification_push = models.ForeignKey(
        "mpesa.StkPush", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["business"], condition=Q(is_active=True), name="payment_config_one_active_per_business"
            ),
            models.CheckConstraint(
                condition=(Q(method="till") & ~Q(till_number="")) | (Q(method="paybill") & Q(till_number="")),
                name="payment_config_till_number_matches_method",
            ),
        ]

    def __str__(self):
        number = f"till {self.till_number} (store {self.shortcode})" if self.method == self.Method.TILL else f"paybill {self.shortcode}"
        return f"{self.business} – {number}{'' if self.is_active else ' (inactive)'}"

    @property
    def party_b(self) -> str:
        return self.till_number if self.method == self.Method.TILL else self.shortcode

    @property
    def transaction_type(self) -> str:
        return "CustomerBuyGoodsOnline" if self.method == self.Method.TILL else "CustomerPayBillOnline"

    @property
    def uses_own_daraja_app(self) -> bool:
        return bool(self.consumer_key) and bool(self.consumer_secret)
