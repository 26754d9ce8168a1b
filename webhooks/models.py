import uuid

from django.db import models
from django.db.models import Q

from payme.encryption import EncryptedTextField
from payme.models import TimeStampedModel

EVENT_TYPES = (
    "sale.paid",
    "sale.failed",
    "sale.refunded",
    "invoice.paid",
    "c2b.received",
    "wallet.credited",
    "payout.succeeded",
    "payout.failed",
    "payment_config.verified",
)
PING = "ping"


class WebhookEndpoint(TimeStampedModel):
    """A business's receiver. The secret (``whsec_…``) is stored encrypted and shown once, at
    creation and at rotation; after a rotation the previous one keeps signing beside it until
    ``previous_secret_expires_at``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list, help_text="The event types it receives.")
    description = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True, help_text="Why PayMe disabled it (410, 5 days of failures).")
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failed attempt since the last success.")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Deleted by the owner; kept for its deliveries.")
    consecutive_failures = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last success.")
    paused_until = models.DateTimeField(
        null=True, blank=True,
        help_text="Circuit breaker: after WEBHOOKS_BREAKER_THRESHOLD failures in a row nothing is sent before this time.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url


class WebhookEvent(models.Model):
    """The outbox: written in the transaction that made the change. Its ``msg_id`` is the
    ``webhook-id`` a receiver de-duplicates on (the same across retries and replays)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The body sent: {type, timestamp, data}.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["business", "-created_at"], name="webhook_event_newest_idx")]

    def __str__(self):
        return f"{self.type} {self.msg_id}"

    @property
    def msg_id(self) -> str:
        return f"msg_{self.public_id.hex}"


class WebhookDelivery(TimeStampedModel):
    """One event to one endpoint. A replay is a new delivery (``replay_of``), never an edit."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"
        CANCELLED = "cancelled", "Cancelled (endpoint disabled or deleted)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replays")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], condition=Q(replay_of__isnull=True), name="webhook_delivery_once_per_endpoint"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx")]

    def __str__(self):
        return f"{self.event.type} → {self.endpoint.url} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP try of a delivery: what came back and how long it took. Never edited."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "2xx"
        HTTP_ERROR = "http_error", "Non-2xx answer"
        TIMEOUT = "timeout", "Timed out"
        CONNECTION_ERROR = "connection_error", "Could not connect / reset"
        BLOCKED = "blocked", "Target not allowed"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True, help_text="The first bytes of the answer.")
    retry_after_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self):
        return f"#{self.number} {self.outcome} {self.status_code or ''}".strip()
