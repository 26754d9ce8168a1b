from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    """Read-only for everyone: owners see their business's events, superusers all."""

    list_display = ("created_at", "action", "object_type", "object_id", "actor_email", "ip")
    list_filter = ("action", "object_type")
    search_fields = ("object_id", "actor_email", "request_id")
    list_select_related = ("business",)
    date_hierarchy = "created_at"
    fields = ("created_at", "business", "actor_email", "action", "object_type", "object_id", "before", "after", "request_id", "ip")
    readonly_fields = fields
