from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin, is_owner
from accounts.models import Business
from audit.services import audit_context
from mpesa.phone import InvalidPhone, normalize_phone
from mpesa.rules import round_amount
from payme.errors import ApplicationError
from wallet.constants import wallet_paybill
from wallet.models import TokenHold, TokenPurchase, Wallet, WalletEntry
from wallet.selectors import token_purchase_timeline
from wallet.services import token_purchase_start, wallet_adjust

RECENT_ENTRIES = 15
RECENT_PURCHASES = 5


def _when(moment):
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y, %H:%M}"


class BuyTokensForm(forms.Form):
    phone = forms.CharField(
        label="Phone that pays", max_length=20, help_text="It gets the M-Pesa prompt, e.g. 0712345678."
    )
    amount = forms.CharField(label="Amount (KES)", max_length=20, help_text="Whole shillings.")

    def clean_phone(self):
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_amount(self):
        # The API's rule (payme.fields.AmountField): decimals round half-up, 1 … MPESA_MAX_AMOUNT.
        try:
            amount = round_amount(self.cleaned_data["amount"])
        except ValueError:
            raise forms.ValidationError("Enter an amount in shillings, e.g. 500.") from None
        if not 1 <= amount <= settings.MPESA_MAX_AMOUNT:
            raise forms.ValidationError(f"The amount must be between 1 and {settings.MPESA_MAX_AMOUNT:,} shillings.")
        return amount


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("business", "balance", "updated_at")
    list_select_related = ("business",)
    search_fields = ("business__name",)
    change_form_template = "admin/wallet/wallet/change_form.html"
    fields = ("balance_tokens", "recent_entries", "recent_purchases")
    readonly_fields = fields

    def get_fields(self, request, obj=None):
        return ("business", *self.fields) if request.user.is_superuser else self.fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def changelist_view(self, request, extra_context=None):
        # An owner has exactly one wallet: the list of one row is a click in the way.
        if not request.user.is_superuser:
            wallet = self.get_queryset(request).first()
            if wallet is not None:
                return HttpResponseRedirect(reverse("admin:wallet_wallet_change", args=[wallet.pk]))
        return super().changelist_view(request, extra_context)

    @admin.display(description="Balance")
    def balance_tokens(self, wallet):
        fee = settings.SALES_TOKEN_FEE
        per_sale = f" Each paid sale uses {fee} token{pluralize(fee)}." if fee else ""
        return format_html(
            '<strong id="wallet-balance">{} tokens</strong><br>1 KES buys {} token{}.{}',
            f"{wallet.balance:,}",
            settings.WALLET_TOKENS_PER_KES,
            pluralize(settings.WALLET_TOKENS_PER_KES),
            per_sale,
        )

    @admin.display(description="Recent entries")
    def recent_entries(self, wallet):
        entries = list(WalletEntry.objects.filter(wallet=wallet).order_by("-id")[:RECENT_ENTRIES])
        if not entries:
            return "No entries yet: buy tokens to start."
        rows = format_html_join(
            "",
            '<tr class="ledger-entry"><td>{}</td><td>{}</td><td class="tokens">{}</td><td>{}</td></tr>',
            (
                (_when(e.created_at), " · ".join(filter(None, [e.get_cause_display(), e.description])),
                 f"{e.signed_tokens:+,}", f"{e.balance_after:,}")
                for e in entries
            ),
        )
        all_url = reverse("admin:wallet_walletentry_changelist")
        if wallet.business_id:
            all_url += f"?business__id__exact={wallet.business_id}"
        return format_html(
            '<table id="ledger"><thead><tr><th>When</th><th>What</th><th>Tokens</th><th>Balance after</th></tr></thead>'
            '<tbody>{}</tbody></table><p><a href="{}">Every entry</a></p>',
            rows,
            all_url,
        )

    @admin.display(description="Recent purchases")
    def recent_purchases(self, wallet):
        purchases = list(TokenPurchase.objects.filter(business_id=wallet.business_id).order_by("-created_at", "-id")[:RECENT_PURCHASES])
        if not purchases:
            return "None yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>KES {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (_when(p.created_at), f"{p.amount:,}", f"{p.tokens:,}", p.get_status_display(),
                 p.reason or (f"Receipt {p.mpesa_receipt}" if p.mpesa_receipt else ""))
                for p in purchases
            ),
        )
        return format_html(
            '<table id="purchases"><thead><tr><th>When</th><th>Paid</th><th>Tokens</th><th>Status</th><th>Details</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        buy = path(
            "<path:object_id>/buy-tokens/", self.admin_site.admin_view(self.buy_tokens_view), name="wallet_wallet_buy_tokens"
        )
        return [buy, *super().get_urls()]

    def buy_tokens_view(self, request, object_id):
        """Top up by STK push on the platform paybill, through the same service as the API."""
        wallet = self.get_object(request, unquote(object_id))  # scoped: another business's is None
        if wallet is None:
            raise Http404("No such wallet.")
        if not (request.user.is_superuser or is_owner(request.user)):
            raise PermissionDenied
        wallet_url = reverse("admin:wallet_wallet_change", args=[wallet.pk])
        form = BuyTokensForm(request.POST or None, initial={"phone": wallet.business.phone})
        if request.method == "POST" and form.is_valid():
            try:
                purchase = token_purchase_start(
                    business=wallet.business,
                    phone=form.cleaned_data["phone"],
                    amount=form.cleaned_data["amount"],
                    user=request.user,
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"A prompt for KES {purchase.amount:,} is on its way to {purchase.phone} (paybill {wallet_paybill()}). "
                    f"{purchase.tokens:,} tokens are added when it is paid.",
                )
                return HttpResponseRedirect(wallet_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Buy tokens",
            "subtitle": str(wallet.business),
            "opts": self.opts,
            "original": wallet,
            "form": form,
            "wallet_url": wallet_url,
            "tokens_per_kes": settings.WALLET_TOKENS_PER_KES,
            "paybill": wallet_paybill(),
        }
        return TemplateResponse(request, "admin/wallet/wallet/buy_tokens.html", context)


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
    ordering = ("-id",)
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
            context=audit_context(request),
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
    readonly_fields = ("timeline",)
    ordering = ("-created_at", "-id")
    list_per_page = 50

    @admin.display(description="What happened, step by step")
    def timeline(self, purchase):
        # The same steps as GET /api/wallet-payment/<id>/timeline.
        steps = token_purchase_timeline(business=purchase.business, purchase=purchase)
        return format_html_join(
            mark_safe("<br>"), "<strong>{}</strong> &nbsp; {}", ((_when(step.at), step.text) for step in steps)
        )


@admin.register(TokenHold)
class TokenHoldAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "tokens", "status", "reference")
    list_filter = ("status",)
    list_select_related = ("business",)
