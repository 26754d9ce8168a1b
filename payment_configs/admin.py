from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils import timezone

from accounts.admin_mixins import TenantScopedAdmin
from payment_configs.models import PaymentConfig

SECRET_HELP = "Write-only. Leave blank to keep the stored value."
SECRET_NAMES = ("passkey", "consumer_key", "consumer_secret")


class PaymentConfigAdminForm(forms.ModelForm):
    """Secrets are write-only inputs: never rendered, not even masked or hidden."""

    passkey = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), help_text=SECRET_HELP)
    consumer_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), help_text=SECRET_HELP)
    consumer_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), help_text=SECRET_HELP)

    class Meta:
        model = PaymentConfig
        fields = ["business", "method", "shortcode", "till_number", "account_reference", "account_name", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Keep the stored ciphertext aside: a blank input means "keep", and the admin's form
        # machinery would otherwise write the blank into the instance.
        self._stored_secrets = {name: getattr(self.instance, name, "") for name in SECRET_NAMES}
        for name in SECRET_NAMES:
            self.initial.pop(name, None)

    def clean(self):
        data = super().clean()
        creating = self.instance.pk is None
        if creating and not data.get("passkey"):
            self.add_error("passkey", "A passkey is required.")
        method, till = data.get("method"), data.get("till_number") or ""
        if method == PaymentConfig.Method.TILL and not till:
            self.add_error("till_number", "A till needs its till number.")
        if method == PaymentConfig.Method.PAYBILL and till:
            self.add_error("till_number", "A paybill has no till number.")
        import re

        if data.get("shortcode") and not re.fullmatch(r"[0-9]{5,7}", data["shortcode"]):
            self.add_error("shortcode", "Must be 5 to 7 digits.")
        for name in SECRET_NAMES:
            if data.get(name) and not re.fullmatch(r"[!-~]{1,255}", data[name]):
                self.add_error(name, "Printable ASCII without spaces, as Safaricom issues it.")
        if data.get("account_reference") and not re.fullmatch(r"[A-Za-z0-9]{1,12}", data["account_reference"]):
            self.add_error("account_reference", "Must be 1 to 12 letters and digits.")
        return data

    def save(self, commit=True):
        config = super().save(commit=False)
        for name in SECRET_NAMES:
            value = self.cleaned_data.get(name)
            setattr(config, name, value if value else self._stored_secrets[name])
        if commit:
            config.save()
        return config


@admin.register(PaymentConfig)
class PaymentConfigAdmin(TenantScopedAdmin, admin.ModelAdmin):
    form = PaymentConfigAdminForm
    owner_can_add = True
    owner_can_change = True
    list_display = ("business", "method", "shortcode", "till_number", "verified", "is_active", "created_at")
    list_filter = ("method", "verified", "is_active")
    list_select_related = ("business",)
    search_fields = ("business__name", "shortcode", "till_number")
    readonly_fields = ("verified", "verified_at", "verification_status", "verification_message", "created_at", "updated_at")
    raw_id_fields = ()

    def get_fields(self, request, obj=None):
        fields = ["method", "shortcode", "till_number", "passkey", "consumer_key", "consumer_secret",
                  "account_reference", "account_name", "is_active", *self.readonly_fields]
        if request.user.is_superuser:
            fields.insert(0, "business")
        return fields

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            if not change and not request.user.is_superuser:
                from accounts.selectors import business_for_user

                obj.business = business_for_user(request.user)
            if obj.is_active:
                # Replacing keeps history: the previous active config is deactivated.
                PaymentConfig.objects.filter(business=obj.business, is_active=True).exclude(pk=obj.pk).update(
                    is_active=False, deactivated_at=timezone.now()
                )
            if change and {"method", "shortcode", "till_number", "passkey", "consumer_key", "consumer_secret"} & set(form.changed_data):
                # A new number or secret means the old verification proves nothing.
                obj.verified = False
                obj.verified_at = None
                obj.verification_status = PaymentConfig.Verification.NOT_STARTED
                obj.verification_message = "Details changed; verify again."
            super().save_model(request, obj, form, change)
