from django.contrib import admin, messages

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from audit.services import audit_context
from payme.errors import ApplicationError
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_replay


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    """Read-only here (the secret is never shown; owners manage endpoints through the API)."""

    list_display = ("url", "enabled", "disabled_reason", "created_at")
    list_filter = ("enabled",)
    fields = ("business", "url", "events", "description", "enabled", "disabled_reason", "failing_since",
              "previous_secret_expires_at", "deleted_at", "created_at", "updated_at")
    readonly_fields = fields


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "started_at", "duration_ms", "outcome", "status_code", "error", "response_excerpt", "retry_after_seconds")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "event_type", "endpoint", "status", "attempt_count", "last_status_code", "next_attempt_at")
    list_filter = ("status",)
    list_select_related = ("event", "endpoint")
    raw_id_fields = ("event", "endpoint", "replay_of")
    fields = ("business", "event", "endpoint", "replay_of", "status", "attempt_count", "next_attempt_at", "last_status_code",
              "last_error", "completed_at", "created_at")
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.display(description="Event")
    def event_type(self, obj):
        return obj.event.type

    @admin.action(description="Replay the selected deliveries")
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                webhook_delivery_replay(delivery=delivery, context=audit_context(request))
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{delivery.endpoint.url}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} deliver{'y' if done == 1 else 'ies'} queued again.", messages.SUCCESS)
