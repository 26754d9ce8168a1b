import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_mixins import TenantScopedAdmin
from accounts.selectors import business_for_user
from audit.services import audit_admin_form, audit_context
from mpesa.phone import InvalidPhone, normalize_phone
from payme.errors import ApplicationError
from payment_configs.models import PaymentConfig
from payment_configs.services import payment_config_c2b_register, payment_config_verify

SECRET_NAMES = ("passkey", "consumer_key", "consumer_secret")
KEEP = "Write-only: never shown again. Leave blank to keep the stored one."


def _secret_input(label, help_text):
    return forms.CharField(
        label=label, required=False, widget=forms.PasswordInput(render_value=False), help_text=help_text
    )


class PaymentConfigAdminForm(forms.ModelForm):
    """Secrets are write-only inputs: never rendered, not even masked or hidden. Labels are the
    words on the owner's Safaricom letter, not Daraja's field names (BusinessShortCode, PartyB)."""

    passkey = _secret_input("Passkey", f"The Lipa na M-Pesa Online passkey Safaricom sent you. {KEEP}")
    consumer_key = _secret_input(
        "Own Daraja app: consumer key", f"Only if you have your own Daraja app; otherwise PayMe's is used. {KEEP}"
    )
    consumer_secret = _secret_input("Own Daraja app: consumer secret", KEEP)

    class Meta:
        model = PaymentConfig
        fields = ["business", "method", "shortcode", "till_number", "account_reference", "account_name", "is_active"]
        labels = {
            "method": "Till or Paybill",
            "shortcode": "Store number or paybill number",
            "till_number": "Till number",
            "account_reference": "Account shown on the prompt",
            "account_name": "Name for your records",
            "is_active": "In use",
        }
        help_texts = {
            "shortcode": "For a till: the store (head office) number Safaricom gave you with the till. "
            "For a paybill: the paybill number. 5 to 7 digits.",
            "till_number": "The number your customers pay to (Buy Goods). Leave empty for a paybill.",
            "account_reference": "Up to 12 letters and digits; the customer sees it in the M-Pesa prompt.",
            "is_active": "Sales are charged on the config in use. Putting this one in use retires the previous one.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Keep the stored ciphertext aside: a blank input means "keep", and the admin's form
        # machinery would otherwise write the blank into the instance.
        self._stored_secrets = {name: getattr(self.instance, name, "") for name in SECRET_NAMES}
        for name in SECRET_NAMES:
            self.initial.pop(name, None)
        if self.instance.pk is not None and "passkey" in self.fields:
            self.fields["passkey"].label = "New passkey"

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


class VerifyForm(forms.Form):
    phone = forms.CharField(
        label="Phone that gets the KES 1 prompt",
        max_length=20,
        help_text="Any M-Pesa phone you hold, e.g. 0712345678. Answer the prompt with your PIN: the KES 1 lands on "
        "your own till or paybill, and that proves the numbers and the passkey are right.",
    )

    def clean_phone(self):
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from None


def _when(moment):
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y, %H:%M}"


@admin.register(PaymentConfig)
class PaymentConfigAdmin(TenantScopedAdmin, admin.ModelAdmin):
    form = PaymentConfigAdminForm
    change_form_template = "admin/payment_configs/paymentconfig/change_form.html"
    owner_can_add = True
    owner_can_change = True
    list_display = ("number", "verification_status", "is_active", "created_at")
    list_filter = ("method", "verified", "is_active")
    list_select_related = ("business",)
    search_fields = ("business__name", "shortcode", "till_number")
    ordering = ("-is_active", "-created_at")
    readonly_fields = ("passkey_state", "own_app_state", "verification", "created_at", "updated_at")
    actions = ["register_c2b_urls"]

    @admin.action(description="Register C2B URLs (payments from the phone menu) with M-Pesa")
    def register_c2b_urls(self, request, queryset):
        """The same service as POST /api/payment-config/c2b/register; a worker calls Daraja. The
        queryset is already scoped to the owner's business; only configs in use can register."""
        for config in queryset.select_related("business"):
            if not config.is_active:
                messages.error(request, f"{self.number(config)}: only the config in use can register C2B URLs.")
                continue
            try:
                payment_config_c2b_register(business=config.business)
            except ApplicationError as exc:
                messages.error(request, f"{self.number(config)}: {exc.message}")
            else:
                messages.success(
                    request,
                    f"{self.number(config)}: registering the C2B URLs with M-Pesa. The outcome shows under "
                    "C2B registrations in a few seconds.",
                )

    def get_list_display(self, request):
        return ("business", *self.list_display) if request.user.is_superuser else self.list_display

    def get_fieldsets(self, request, obj=None):
        numbers = ["method", "shortcode", "till_number", "account_reference", "account_name", "is_active"]
        if request.user.is_superuser:
            numbers.insert(0, "business")
        if obj is None:
            secrets = ["passkey", "consumer_key", "consumer_secret"]
            return [("Your Till or Paybill", {"fields": numbers}), ("Passkey and Daraja app", {"fields": secrets})]
        secrets = ["passkey_state", "passkey", "own_app_state", "consumer_key", "consumer_secret"]
        return [
            ("Your Till or Paybill", {"fields": numbers}),
            ("Verification", {"fields": ["verification"]}),
            ("Passkey and Daraja app (write-only)", {"fields": secrets}),
            ("Record", {"fields": ["created_at", "updated_at"]}),
        ]

    @admin.display(description="Till or Paybill")
    def number(self, config):
        if config.method == PaymentConfig.Method.TILL:
            return f"Till {config.till_number} (store {config.shortcode})"
        return f"Paybill {config.shortcode}"

    @admin.display(description="Passkey on file")
    def passkey_state(self, config):
        return "Stored" if config.passkey else "Not set"

    @admin.display(description="Own Daraja app on file")
    def own_app_state(self, config):
        if config.uses_own_daraja_app:
            return "Stored (your own consumer key and secret are used)"
        return "Not set (PayMe's Daraja app is used)"

    @admin.display(description="State")
    def verification(self, config):
        state = config.get_verification_status_display()
        if config.verified and config.verified_at:
            state = f"Verified on {_when(config.verified_at)}"
        message = config.verification_message or "Verify it: a KES 1 prompt to your phone proves the numbers and the passkey."
        return format_html('<strong id="verification-state">{}</strong><br>{}', state, message)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A business has one config in use: "Save and add another" makes no sense here.
        extra_context = {**(extra_context or {}), "show_save_and_add_another": False}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        verify = path(
            "<path:object_id>/verify/",
            self.admin_site.admin_view(self.verify_view),
            name="payment_configs_paymentconfig_verify",
        )
        return [verify, *super().get_urls()]

    def verify_view(self, request, object_id):
        """Send the KES 1 verification prompt through the same service as the API."""
        config = self.get_object(request, unquote(object_id))  # scoped: another business's is None
        if config is None:
            raise Http404("No such payment config.")
        if not self.has_change_permission(request, config):
            raise PermissionDenied
        change_url = reverse("admin:payment_configs_paymentconfig_change", args=[config.pk])
        if not config.is_active:
            messages.error(request, "Only the config in use can be verified.")
            return HttpResponseRedirect(change_url)
        form = VerifyForm(request.POST or None, initial={"phone": config.business.phone})
        if request.method == "POST" and form.is_valid():
            try:
                config, push = payment_config_verify(business=config.business, phone=form.cleaned_data["phone"], context=audit_context(request))
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"A KES 1 prompt is on its way to {push.phone}. Answer it with your M-Pesa PIN; "
                    "this page shows the result once Safaricom answers.",
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Verify your Till or Paybill",
            "subtitle": str(config),
            "opts": self.opts,
            "original": config,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/payment_configs/paymentconfig/verify.html", context)

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            if not change and not request.user.is_superuser:
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
            self._audit(request, obj, form, change)

    def _audit(self, request, obj, form, change):
        audit_admin_form(request, form=form, obj=obj, change=change, object_type="payment_config", secret_names=SECRET_NAMES)
