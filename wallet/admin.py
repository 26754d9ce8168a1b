from django import forms
from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from accounts.models import Business
from wallet.models import TokenHold, TokenPurchase, Wallet, WalletEntry
from wallet.services import wallet_adjust


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("business", "balance", "updated_at")
    list_select_related = ("business",)
    search_fields = ("business__name",)


class AdjustmentForm(forms.ModelForm):
    """Superusers post a credit or debit with a reason; it goes through wallet_adjust."""

    business = forms.ModelChoiceField(queryset=Business.objects.order_by("name"))
    reason = forms.CharField(max_length=255)

    class Meta:
        model = WalletEntry
        fields = ["kind", "tokens"]

    def clean_tokens(self):
        tokens = self.cleaned_data["tokens"]
        if tokens is None or tokens <= 0:
            raise forms.ValidationError("Tokens must be a positive whole number.")
        return tokens

    def clean(self):
        data = super().clean()
        business, tokens = data.get("business"), data.get("tokens")
        if business and tokens and data.get("kind") == WalletEntry.Kind.DEBIT:
            balance = Wallet.objects.filter(business=business).values_list("balance", flat=True).first() or 0
            if tokens > balance:
                self.add_error("tokens", f"The wallet holds {balance} tokens; a debit cannot exceed that.")
        return data


@admin.register(WalletEntry)
class WalletEntryAdmin(TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "kind", "tokens", "balance_after", "cause", "description", "author")
    list_filter = ("kind", "cause")
    list_select_related = ("business", "author")
    search_fields = ("reference", "description", "business__name")
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request, *args):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = AdjustmentForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["business", "kind", "tokens", "reason"]
        return ["business", "kind", "tokens", "balance_after", "cause", "reference", "description", "author", "created_at"]

    def save_model(self, request, obj, form, change):
        # The ledger is written by the service, never by the form (append-only, locked wallet).
        entry = wallet_adjust(
            business=form.cleaned_data["business"],
            kind=form.cleaned_data["kind"],
            tokens=form.cleaned_data["tokens"],
            reason=form.cleaned_data["reason"],
            author=request.user,
        )
        obj.pk = entry.pk


@admin.register(TokenPurchase)
class TokenPurchaseAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "amount", "tokens", "phone", "status", "reason", "mpesa_receipt")
    list_filter = ("status",)
    list_select_related = ("business",)
    search_fields = ("phone", "mpesa_receipt")
    date_hierarchy = "created_at"
    exclude = ("push",)
    list_per_page = 50


@admin.register(TokenHold)
class TokenHoldAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "tokens", "status", "reference")
    list_filter = ("status",)
    list_select_related = ("business",)
