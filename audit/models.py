import uuid

from django.conf import settings
from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who changed what, written by the service that made the change inside its transaction.

    Append-only: the model and queryset refuse updates and deletes, and on PostgreSQL a trigger
    refuses them too (migration 0002). Secrets appear only as "set" / "changed" / "not set"."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey("accounts.Business", on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Who did it; empty when the system did (a Daraja result, a worker).",
    )
    actor_email = models.CharField(max_length=254, blank=True, help_text="The actor's email at the time.")
    action = models.CharField(max_length=64, db_index=True, help_text='What happened, e.g. "payment_config.updated".')
    object_type = models.CharField(max_length=64, help_text='The kind of object, e.g. "payment_config".')
    object_id = models.CharField(max_length=64, blank=True, help_text="The object's public id.")
    before = models.JSONField(default=dict, blank=True, help_text="The changed fields before the change.")
    after = models.JSONField(default=dict, blank=True, help_text="The changed fields after the change.")
    request_id = models.CharField(max_length=128, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="audit_business_newest_idx"),
            models.Index(fields=["business", "action", "-created_at"], name="audit_business_action_idx"),
        ]

    def __str__(self):
        return f"{self.action} {self.object_type} {self.object_id}".strip()

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")
