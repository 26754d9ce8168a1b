from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class IdempotencyKey(TimeStampedModel):
    """A client's ``Idempotency-Key`` for one payment-starting endpoint.

    Written with its response in the transaction of the request that used it (payme/idempotency.py),
    so a retry with the same key and body gets the same answer without a second STK prompt.
    ``in_progress`` is only ever seen inside that transaction.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    business = models.ForeignKey("accounts.Business", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=64, help_text="Which endpoint the key belongs to.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON body.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business", "scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self):
        return f"{self.scope}:{self.key} ({self.state})"
