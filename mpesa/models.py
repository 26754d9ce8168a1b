import uuid

from django.db import models
from django.db.models import Q

from payme.models import TimeStampedModel

SENDING_MESSAGE = "Sending the M-Pesa prompt to the customer's phone."


class StkPush(TimeStampedModel):
    """One STK request, created before Daraja is called.

    The callback token in the URL and the CheckoutRequestID are secrets between us and
    Safaricom: they are never returned to API clients.
    """

    class Purpose(models.TextChoices):
        WALLET_TOPUP = "wallet_topup", "Wallet top-up"
        SALE = "sale", "Sale"
        CONFIG_VERIFICATION = "config_verification", "Config verification"

    class Status(models.TextChoices):
        CREATED = "created", "Created (not sent yet)"
        SENDING = "sending", "Sending (a worker is calling Daraja)"
        PENDING = "pending", "Pending (waiting for the customer)"
        UNKNOWN = "unknown", "Unknown (Daraja did not answer)"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled by the customer"
        EXPIRED = "expired", "Expired"
        NEEDS_REVIEW = "needs_review", "Needs review"

    OPEN_STATUSES = (Status.CREATED, Status.SENDING, Status.PENDING, Status.UNKNOWN)
    # Not yet (or not known to be) in front of the customer.
    UNSENT_STATUSES = (Status.CREATED, Status.SENDING)
    FINAL_FAILURE_STATUSES = (Status.FAILED, Status.CANCELLED, Status.EXPIRED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="stk_pushes")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    environment = models.CharField(max_length=16, help_text="simulator, sandbox or production.")
    shortcode = models.CharField(max_length=7, help_text="BusinessShortCode: the paybill, or the till's store number.")
    party_b = models.CharField(max_length=7, help_text="PartyB: the paybill, or the till number.")
    transaction_type = models.CharField(max_length=32)
    amount = models.PositiveIntegerField(help_text="Whole KES.")
    phone = models.CharField(max_length=12)
    account_reference = models.CharField(max_length=12)
    description = models.CharField(max_length=13)
    callback_token = models.CharField(max_length=64, unique=True, editable=False)
    merchant_request_id = models.CharField(max_length=64, blank=True)
    checkout_request_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED, db_index=True)
    result_code = models.CharField(max_length=32, blank=True, help_text="A string: Daraja also sends 'SFC_IC0003'.")
    result_desc = models.CharField(max_length=255, blank=True)
    daraja_error_code = models.CharField(
        max_length=32, blank=True, help_text="Daraja's errorCode when it refused the request itself (e.g. 500.001.1001)."
    )
    mpesa_receipt = models.CharField(max_length=32, null=True, blank=True, unique=True)
    transaction_date = models.DateTimeField(null=True, blank=True)
    paid_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    paid_phone = models.CharField(max_length=16, blank=True)
    customer_message = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When a worker claimed it and called Daraja.")
    completed_at = models.DateTimeField(null=True, blank=True)
    last_queried_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=255, blank=True)
    raw_request = models.JSONField(null=True, blank=True, help_text="Sent body without the Password.")
    raw_response = models.JSONField(null=True, blank=True)
    raw_callback = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = "STK push"
        verbose_name_plural = "STK pushes"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="stkpush_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["phone", "status", "created_at"], name="stkpush_phone_open_idx"),
            models.Index(fields=["status", "created_at"], name="stkpush_status_created_idx"),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} KES {self.amount} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def message_for_customer(self) -> str:
        """Daraja's CustomerMessage once it accepted the push; before that, what is happening."""
        if self.customer_message:
            return self.customer_message
        return SENDING_MESSAGE if self.status in self.UNSENT_STATUSES else ""


class CallbackDelivery(models.Model):
    """Every POST to the callback URL, stored before anything else can fail (dj-stripe's lesson).

    Append-only; the outcome says what we did with it.
    """

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        DUPLICATE = "duplicate", "Duplicate (no change)"
        REVIEW = "review", "Sent to review"
        IGNORED = "ignored", "Ignored (push already final)"
        LEFT_PENDING = "left_pending", "Left pending (confirmation still processing)"
        UNKNOWN_TOKEN = "unknown_token", "Unknown token"
        MISMATCH = "mismatch", "CheckoutRequestID mismatch"
        MALFORMED = "malformed", "Malformed body"
        FORBIDDEN_IP = "forbidden_ip", "Source IP not allowed"
        TOO_LARGE = "too_large", "Body too large"
        C2B_ACCEPTED = "c2b_accepted", "C2B validation accepted"
        C2B_REJECTED = "c2b_rejected", "C2B validation rejected"

    push = models.ForeignKey(StkPush, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    command = models.ForeignKey(
        "mpesa.DarajaCommand", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    token_prefix = models.CharField(max_length=12, blank=True, help_text="First characters of the URL token.")
    body = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    forwarded_for = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RECEIVED)
    detail = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name_plural = "callback deliveries"

    def __str__(self):
        return f"Delivery {self.pk} ({self.outcome})"


class C2BRegistration(TimeStampedModel):
    """The C2B URLs of one payment config (one shortcode): the secret token in both URLs, how
    they were (or are being) registered with Daraja, and what validation answers.

    ``source_id`` is the owning app's config id: ``mpesa`` never imports the apps above it.
    The token is a secret shared with Safaricom: never returned to API clients or shown.
    """

    class Version(models.TextChoices):
        V1 = "v1", "v1 (MSISDN hashed)"
        V2 = "v2", "v2 (MSISDN masked)"

    class ResponseType(models.TextChoices):
        COMPLETED = "Completed", "Completed (payment goes through if validation does not answer)"
        CANCELLED = "Cancelled", "Cancelled (payment refused if validation does not answer)"

    class Status(models.TextChoices):
        NOT_REGISTERED = "not_registered", "Not registered"
        QUEUED = "queued", "Queued (a worker will register)"
        SENDING = "sending", "Sending to Daraja"
        REGISTERED = "registered", "Registered"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="c2b_registrations")
    source_id = models.PositiveBigIntegerField(unique=True, help_text="The payment config this registration belongs to.")
    shortcode = models.CharField(max_length=7, help_text="The shortcode registered: the paybill, or the till's store number.")
    till_number = models.CharField(max_length=7, blank=True, help_text="A till's number (confirmations may carry it instead).")
    token = models.CharField(max_length=64, unique=True, editable=False)
    version = models.CharField(max_length=2, choices=Version.choices, default=Version.V2)
    response_type = models.CharField(max_length=9, choices=ResponseType.choices, default=ResponseType.COMPLETED)
    validation_enabled = models.BooleanField(
        default=False, help_text="Register a ValidationURL too (Safaricom must have enabled validation for the shortcode)."
    )
    accept_unknown_accounts = models.BooleanField(
        default=True, help_text="Validation accepts an account number that is no open invoice (else rejects with C2B00012)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_REGISTERED)
    message = models.CharField(max_length=255, blank=True, help_text="The last registration's outcome in plain words.")
    daraja_error_code = models.CharField(max_length=32, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "C2B registration"

    def __str__(self):
        return f"C2B {self.shortcode} ({self.status})"


class C2BReceipt(TimeStampedModel):
    """One C2B payment Daraja confirmed, recorded once by TransID (the M-Pesa receipt).

    The MSISDN is kept exactly as Daraja sends it: masked (v2) or a SHA-256 hash (v1), never
    the phone number, so a payment cannot be matched to a customer by phone.
    """

    class Status(models.TextChoices):
        UNMATCHED = "unmatched", "Unmatched (the owner can attach it to a sale)"
        MATCHED = "matched", "Matched to a sale"
        REVIEW = "review", "Needs review"
        LEFT = "left", "Left unmatched by the owner"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="c2b_receipts")
    registration = models.ForeignKey(C2BRegistration, on_delete=models.PROTECT, related_name="receipts")
    trans_id = models.CharField(max_length=32, unique=True, help_text="TransID: the M-Pesa receipt.")
    transaction_type = models.CharField(max_length=32, blank=True, help_text="'Pay Bill' or 'Buy Goods' as Daraja sends it.")
    trans_time = models.DateTimeField(null=True, blank=True)
    trans_amount = models.CharField(max_length=20, help_text="TransAmount exactly as sent (a string, e.g. '5.00').")
    amount = models.PositiveIntegerField(
        null=True, blank=True, help_text="Whole KES; empty when TransAmount had cents (sent to review, never rounded)."
    )
    shortcode = models.CharField(max_length=7)
    bill_ref_number = models.CharField(max_length=64, blank=True, help_text="The account number the customer typed.")
    invoice_number = models.CharField(max_length=64, blank=True)
    msisdn = models.CharField(max_length=80, blank=True, help_text="Masked (v2) or SHA-256 hashed (v1), as sent.")
    first_name = models.CharField(max_length=64, blank=True)
    middle_name = models.CharField(max_length=64, blank=True)
    last_name = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNMATCHED, db_index=True)
    review_reason = models.CharField(max_length=255, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(help_text="The confirmation body as received.")

    class Meta:
        verbose_name = "C2B receipt"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gt=0), name="c2breceipt_amount_positive"),
        ]
        indexes = [models.Index(fields=["business", "status", "-created_at"], name="c2breceipt_business_status_idx")]

    def __str__(self):
        return f"C2B {self.trans_id} KES {self.trans_amount} ({self.status})"

    @property
    def payer_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.middle_name, self.last_name) if part)

class DarajaCommand(TimeStampedModel):
    """One result-URL exchange with Daraja (B2C, reversal, transaction status, account balance),
    recorded before anything is sent.

    Life cycle: ``created`` → (worker claims) ``sending`` → ``accepted`` → ``succeeded`` /
    ``failed``; no answer → ``unknown``, settled by its result or by Transaction Status, never
    resent. A result that does not match the request goes to ``needs_review`` and changes nothing.
    The callback token in the Result/QueueTimeOut URLs is a secret between us and Safaricom.
    """

    class Kind(models.TextChoices):
        B2C = "b2c", "B2C payment"
        REVERSAL = "reversal", "Reversal"
        TRANSACTION_STATUS = "transaction_status", "Transaction status"
        ACCOUNT_BALANCE = "account_balance", "Account balance"

    class Status(models.TextChoices):
        CREATED = "created", "Created (not sent yet)"
        SENDING = "sending", "Sending (a worker is calling Daraja)"
        ACCEPTED = "accepted", "Accepted (waiting for the result)"
        UNKNOWN = "unknown", "Unknown (Daraja did not answer)"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        NEEDS_REVIEW = "needs_review", "Needs review"

    OPEN_STATUSES = (Status.CREATED, Status.SENDING, Status.ACCEPTED, Status.UNKNOWN)
    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.NEEDS_REVIEW)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="daraja_commands")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    purpose = models.CharField(max_length=32, help_text="Whose handler settles it (registered by the owning app).")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="status_queries",
        help_text="For a transaction status query: the command it asks about.",
    )
    environment = models.CharField(max_length=16, help_text="simulator, sandbox or production.")
    shortcode = models.CharField(max_length=7, help_text="PartyA / ReceiverParty: the business's B2C shortcode.")
    command_id = models.CharField(max_length=32, help_text="Daraja's CommandID (BusinessPayment, TransactionReversal…).")
    amount = models.PositiveIntegerField(null=True, blank=True, help_text="Whole KES (B2C and reversal).")
    phone = models.CharField(max_length=12, blank=True, help_text="PartyB of a B2C payment.")
    transaction_id = models.CharField(max_length=32, blank=True, help_text="The receipt a reversal or a status query is about.")
    remarks = models.CharField(max_length=100, blank=True)
    originator_conversation_id = models.CharField(
        max_length=64, unique=True, help_text="Ours, recorded before sending (Daraja's own, for all but B2C v3, is in raw_response)."
    )
    conversation_id = models.CharField(max_length=64, blank=True)
    callback_token = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED, db_index=True)
    result_code = models.CharField(max_length=32, blank=True, help_text="Normalised: '0', '2001', 'R000002'.")
    result_desc = models.CharField(max_length=255, blank=True)
    daraja_error_code = models.CharField(max_length=32, blank=True, help_text="Daraja's errorCode when it refused the request.")
    receipt = models.CharField(max_length=32, blank=True, help_text="The M-Pesa TransactionID of a completed command.")
    recipient_name = models.CharField(max_length=120, blank=True)
    completed_at_daraja = models.DateTimeField(null=True, blank=True, help_text="TransactionCompletedDateTime (EAT).")
    result_parameters = models.JSONField(null=True, blank=True, help_text="ResultParameters by Key.")
    raw_request = models.JSONField(null=True, blank=True, help_text="Sent body without the SecurityCredential.")
    raw_response = models.JSONField(null=True, blank=True)
    raw_result = models.JSONField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_queried_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gt=0), name="daraja_command_amount_positive"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="daraja_command_status_idx")]

    def __str__(self):
        amount = f" KES {self.amount}" if self.amount else ""
        return f"{self.get_kind_display()}{amount} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES
