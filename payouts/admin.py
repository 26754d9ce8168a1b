from django import forms
from django.contrib import admin, messages
from django.db import transaction

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin, is_owner
from audit.services import audit_admin_form, audit_context
from mpesa.daraja import initiator_password_problem
from payme.errors import ApplicationError
from payouts.models import Payout, PayoutConfig
from payouts.services import payout_approve, payout_reject

SECRET_NAMES = ("initiator_password", "consumer_key", "consumer_secret")
KEEP = "Write-only: never shown again. Leave blank to keep the stored one."


def _secret_input(label, help_text):
    return forms.CharField(label=label, required=False, widget=forms.PasswordInput(render_value=False), help_text=help_text)


class PayoutConfigAdminForm(forms.ModelForm):
    """Secrets are write-only inputs: never rendered, not even masked."""

    initiator_password = _secret_input("Initiator password", f"The API operator's password (it expires every 90 days). {KEEP}")
    consumer_key = _secret_input("Own Daraja app: consumer key", f"Only if you have your own Daraja app. {KEEP}")
    consumer_secret = _secret_input("Own Daraja app: consumer secret", KEEP)

    class Meta:
        model = PayoutConfig
        fields = ["business", "shortcode", "initiator_name", "max_per_payout", "daily_max", "approval_threshold", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_secrets = {name: getattr(self.instance, name, "") for name in SECRET_NAMES}
        for name in SECRET_NAMES:
            self.initial.pop(name, None)

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and not data.get("initiator_password"):
            self.add_error("initiator_password", "The initiator password is required.")
        password = data.get("initiator_password")
        problem = initiator_password_problem(password) if password else None
        if problem:
            self.add_error("initiator_password", f"The initiator password {problem}.")
        return data

    def save(self, commit=True):
        config = super().save(commit=False)
        for name in SECRET_NAMES:
            value = self.cleaned_data.get(name)
            setattr(config, name, value if value else self._stored_secrets[name])
        if commit:
            config.save()
        return config


@admin.register(PayoutConfig)
class PayoutConfigAdmin(TenantScopedAdmin, admin.ModelAdmin):
    form = PayoutConfigAdminForm
    owner_can_change = True
    list_display = ("business", "shortcode", "initiator_name", "max_per_payout", "daily_max", "approval_threshold",
                    "balance", "balance_at", "is_active")
    list_select_related = ("business",)
    readonly_fields = ("password_state", "balance", "balance_at", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["shortcode", "initiator_name", "initiator_password", "password_state", "consumer_key", "consumer_secret",
                  "max_per_payout", "daily_max", "approval_threshold", "is_active", "balance", "balance_at"]
        return ["business", *fields] if request.user.is_superuser else fields

    @admin.display(description="Initiator password")
    def password_state(self, obj):
        return "Set" if obj and obj.initiator_password else "Not set"

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            self._audit(request, obj, form, change)

    def _audit(self, request, obj, form, change):
        audit_admin_form(request, form=form, obj=obj, change=change, object_type="payout_config", secret_names=SECRET_NAMES)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "kind", "method", "amount", "phone", "status", "reason", "receipt")
    list_filter = ("status", "kind", "method")
    list_select_related = ("business",)
    raw_id_fields = ("sale", "daraja_command")
    search_fields = ("phone", "receipt", "originator_conversation_id")
    date_hierarchy = "created_at"
    exclude = ("daraja_command",)
    actions = ["approve", "reject"]
    list_per_page = 50

    def get_actions(self, request):
        # Actions are writes through the services; the read-only mixin hides them otherwise.
        actions = super().get_actions(request)
        if not (request.user.is_superuser or is_owner(request.user)):
            return {}
        return actions

    def has_change_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, action, verb):
        done = 0
        for payout in queryset:
            try:
                action(payout)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{payout}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} payout(s).", messages.SUCCESS)

    @admin.action(description="Approve the selected payouts (a second owner)")
    def approve(self, request, queryset):
        owner = is_owner(request.user)
        self._each(request, queryset, lambda p: payout_approve(
            business=None if request.user.is_superuser else p.business, payout_id=p.public_id, user=request.user,
            is_owner=owner, context=audit_context(request)), "Approved")

    @admin.action(description="Reject the selected payouts")
    def reject(self, request, queryset):
        owner = is_owner(request.user)
        self._each(request, queryset, lambda p: payout_reject(
            business=None if request.user.is_superuser else p.business, payout_id=p.public_id, user=request.user,
            is_owner=owner, reason="Rejected in the admin.", context=audit_context(request)), "Rejected")
