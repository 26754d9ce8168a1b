from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from mpesa.models import C2BRegistration, CallbackDelivery, DarajaCommand, StkPush


@admin.register(StkPush)
class StkPushAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "purpose", "amount", "phone", "status", "result_code", "mpesa_receipt")
    list_filter = ("status", "purpose", "environment")
    list_select_related = ("business",)
    search_fields = ("phone", "mpesa_receipt", "account_reference")
    date_hierarchy = "created_at"
    # The callback token and CheckoutRequestID are shared secrets with Safaricom: never shown. The
    # raw Daraja answer and callback carry the CheckoutRequestID, so only the platform's
    # superusers (who investigate deliveries) see them.
    exclude = ("callback_token", "checkout_request_id", "merchant_request_id")
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False

    def get_exclude(self, request, obj=None):
        if request.user.is_superuser:
            return self.exclude
        return (*self.exclude, "raw_response", "raw_callback")


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    tenant_field = "push__business"
    list_display = ("received_at", "outcome", "remote_addr", "push", "detail")
    list_filter = ("outcome",)
    list_select_related = ("push", "push__business")
    raw_id_fields = ("push",)
    date_hierarchy = "received_at"
    list_per_page = 50
    show_full_result_count = False

    def get_exclude(self, request, obj=None):
        # The raw body carries the CheckoutRequestID: superusers only (see StkPushAdmin).
        return () if request.user.is_superuser else ("body",)


@admin.register(C2BRegistration)
class C2BRegistrationAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("shortcode", "status", "version", "validation_enabled", "accept_unknown_accounts", "registered_at", "message")
    list_filter = ("status", "version")
    list_select_related = ("business",)
    # The token is in the URLs Safaricom posts to: a secret shared with Safaricom, never shown.
    exclude = ("token", "source_id")
    ordering = ("-created_at", "-id")

@admin.register(DarajaCommand)
class DarajaCommandAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "kind", "purpose", "amount", "status", "result_code", "receipt")
    list_filter = ("status", "kind", "purpose", "environment")
    list_select_related = ("business",)
    raw_id_fields = ("parent",)
    search_fields = ("receipt", "transaction_id", "originator_conversation_id")
    date_hierarchy = "created_at"
    # The callback token is a shared secret with Safaricom; the raw bodies are for superusers.
    exclude = ("callback_token",)
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False

    def get_exclude(self, request, obj=None):
        if request.user.is_superuser:
            return self.exclude
        return (*self.exclude, "raw_request", "raw_response", "raw_result")
