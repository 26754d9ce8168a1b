from django import forms
from django.contrib import admin, messages
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from mpesa.models import C2BReceipt
from mpesa.selectors import TimelineStep
from payme.errors import ApplicationError, ValidationFailed
from sales.models import Product, Sale, StockMovement
from sales.selectors import sale_timeline
from sales.services import c2b_payment_leave, c2b_payment_match, product_restock


class ProductAdminForm(forms.ModelForm):
    stock_change = forms.IntegerField(
        required=False,
        help_text="Units to add (negative to remove). Recorded as a stock movement; stock itself is never typed over.",
    )

    class Meta:
        model = Product
        fields = ["business", "name", "sku", "price", "is_active"]

    owner_business = None  # set per request by ProductAdmin.get_form for owners

    def clean(self):
        data = super().clean()
        business = data.get("business") or self.owner_business or getattr(self.instance, "business", None)
        sku = data.get("sku")
        if business and sku and Product.objects.filter(business=business, sku=sku).exclude(pk=self.instance.pk).exists():
            # The (business, sku) constraint cannot be checked by the form when the business
            # is not one of its fields (owners); check it here instead of failing at save.
            self.add_error("sku", "A product with this SKU already exists.")
        change = data.get("stock_change") or 0
        current = self.instance.stock if self.instance.pk else 0
        if current + change < 0:
            self.add_error("stock_change", f"Only {current} in stock.")
        return data


@admin.register(Product)
class ProductAdmin(TenantScopedAdmin, admin.ModelAdmin):
    form = ProductAdminForm
    owner_can_add = True
    owner_can_change = True
    list_display = ("name", "sku", "price", "stock", "is_active", "business")
    list_filter = ("is_active",)
    list_select_related = ("business",)
    search_fields = ("name", "sku")
    list_per_page = 50
    readonly_fields = ("stock", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["name", "sku", "price", "is_active", "stock", "stock_change", "created_at", "updated_at"]
        return (["business"] + fields) if request.user.is_superuser else fields

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser:
            from accounts.selectors import business_for_user

            form.owner_business = business_for_user(request.user)
        return form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        delta = form.cleaned_data.get("stock_change") or 0
        if delta:
            try:
                product_restock(product_pk=obj.pk, delta=delta, author=request.user)
            except ValidationFailed as exc:
                messages.error(request, exc.message)


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "flagged for review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged for review"), ("no", "Not flagged")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(needs_review=True)
        if self.value() == "no":
            return queryset.filter(needs_review=False)
        return queryset


def kes(amount) -> str:
    return f"KES\u00a0{amount:,}"  # no break between the currency and the number in a narrow column


def when(moment) -> str:
    """'2 Dec 2026, 14:05' in the business's time zone: short enough for a list column."""
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y, %H:%M}"


_STOCK_WORDS = {
    Sale.StockState.RESERVED: "Held for this sale until it is paid.",
    Sale.StockState.COMMITTED: "Taken from stock.",
    Sale.StockState.RELEASED: "Put back in stock (the sale was not paid).",
}


def sale_outcome(sale) -> str:
    """What happened to the sale, in the words an owner uses at the counter."""
    if sale.status == Sale.Status.PAID:
        text = f"Paid. M-Pesa receipt {sale.mpesa_receipt}." if sale.mpesa_receipt else "Paid. The M-Pesa receipt number has not arrived yet."
    elif sale.status == Sale.Status.PENDING:
        text = "Waiting for the customer to answer the M-Pesa prompt."
    elif sale.status == Sale.Status.AWAITING_PAYMENT:
        text = f"Invoice: waiting for the customer to pay paybill {sale.paybill}, account {sale.account_number}."
    else:
        text = sale.reason or f"{sale.get_status_display()}."
    if sale.needs_review:
        text = f"{text} Needs a look: {sale.review_reason}"
    return text


@admin.register(Sale)
class SaleAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    # Five short columns and one that wraps: fits 1366 px beside the menu and the filters, and a
    # failed sale's reason is on screen (it was the eighth column, off the right edge).
    list_display = ("created", "amount_kes", "phone", "status_words", "outcome")
    list_display_links = ("created",)
    list_filter = (NeedsReviewFilter, "status", "channel")
    list_select_related = ("business",)
    search_fields = ("phone", "mpesa_receipt", "account_reference", "account_number")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ("amount_kes", "phone", "status_words", "outcome", "created", "paid", "mpesa_receipt_or_why")}),
        ("What happened, step by step", {"fields": ("timeline",)}),
        ("Details", {"fields": ("what_was_sold", "account_reference", "description", "fee", "taken_by", "prompt")}),
    ]
    readonly_fields = (
        "amount_kes", "phone", "status_words", "outcome", "created", "paid", "mpesa_receipt_or_why", "timeline",
        "what_was_sold", "account_reference", "description", "fee", "taken_by", "prompt",
    )

    def get_list_display(self, request):
        # An owner sees one business: its name in every row says nothing.
        if request.user.is_superuser:
            return ("created", "business", "amount_kes", "phone", "status_words", "outcome")
        return self.list_display

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            first = (None, {"fields": ("business", *self.fieldsets[0][1]["fields"])})
            return [first, *self.fieldsets[1:]]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "business") if request.user.is_superuser else self.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("push", "created_by")

    @admin.display(description="When", ordering="created_at")
    def created(self, sale):
        return when(sale.created_at)

    @admin.display(description="Amount", ordering="amount")
    def amount_kes(self, sale):
        return kes(sale.amount)

    @admin.display(description="Status", ordering="status")
    def status_words(self, sale):
        return sale.get_status_display() + (" (flagged)" if sale.needs_review else "")

    @admin.display(description="What happened")
    def outcome(self, sale):
        return sale_outcome(sale)

    @admin.display(description="Paid at")
    def paid(self, sale):
        return when(sale.paid_at) if sale.paid_at else "Not paid"

    @admin.display(description="M-Pesa receipt")
    def mpesa_receipt_or_why(self, sale):
        if sale.mpesa_receipt:
            return sale.mpesa_receipt
        if sale.status == Sale.Status.PAID:
            return "Not received yet: the payment was confirmed by asking Safaricom, which does not give the receipt number."
        return "None (not paid)"

    @admin.display(description="What was sold")
    def what_was_sold(self, sale):
        # An ad-hoc amount (a parking slot) has no products: a sentence, not an empty table.
        items = list(sale.items.select_related("product"))
        if not items:
            return "A typed amount, no products."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((item.product.name, item.quantity, kes(item.unit_price), kes(item.line_total)) for item in items),
        )
        stock = _STOCK_WORDS.get(sale.stock_state, "")
        return format_html(
            '<table id="sale-items"><thead><tr><th>Product</th><th>Quantity</th><th>Unit price</th><th>Total</th></tr></thead>'
            "<tbody>{}</tbody></table><p>Stock: {}</p>",
            rows,
            stock,
        )

    @admin.display(description="PayMe fee")
    def fee(self, sale):
        return f"{sale.token_fee} token{pluralize(sale.token_fee)}" if sale.token_fee else "None"

    @admin.display(description="Taken by")
    def taken_by(self, sale):
        return sale.created_by.email if sale.created_by else "-"

    @admin.display(description="M-Pesa prompt")
    def prompt(self, sale):
        if sale.push is None:
            return "-"
        url = reverse("admin:mpesa_stkpush_change", args=[sale.push.pk])
        return format_html('<a href="{}">{}</a>', url, sale.push.get_status_display())

    @admin.display(description="Timeline")
    def timeline(self, sale):
        # The same steps as GET /api/sales/<id>/timeline (sales.selectors.sale_timeline).
        steps = sale_timeline(business=sale.business, sale=sale)
        if sale.needs_review:
            steps.append(TimelineStep(sale.updated_at, "review", f"Flagged for a look: {sale.review_reason}"))
        return format_html_join(
            mark_safe("<br>"), "<strong>{}</strong> &nbsp; {}", ((when(step.at), step.text) for step in steps)
        )


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "product", "delta", "stock_after", "reason", "sale")
    list_filter = ("reason",)
    list_select_related = ("product", "sale")
    raw_id_fields = ("product", "sale")
    list_per_page = 50


class C2BMatchForm(forms.Form):
    sale = forms.ModelChoiceField(
        queryset=Sale.objects.none(), label="Unpaid invoice",
        help_text="Invoices of exactly this amount that are awaiting payment or expired.",
    )


@admin.register(C2BReceipt)
class C2BPaymentAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    """Money that arrived from the phone menu (C2B). "Unmatched" is the owner's to-do list:
    "Attach to an invoice" on a payment's page, or the "Leave unmatched" action."""

    list_display = ("created", "trans_id", "amount_shown", "bill_ref_number", "payer", "status", "review_reason")
    list_filter = ("status", "transaction_type")
    list_select_related = ("business",)
    search_fields = ("trans_id", "bill_ref_number")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False
    exclude = ("registration",)
    actions = ["leave_unmatched"]
    change_form_template = "admin/mpesa/c2breceipt/change_form.html"

    def get_exclude(self, request, obj=None):
        # The raw body is what Daraja sent; owners see every field of it above already.
        return self.exclude if request.user.is_superuser else (*self.exclude, "raw")

    @admin.display(description="When", ordering="created_at")
    def created(self, receipt):
        return when(receipt.created_at)

    @admin.display(description="Amount")
    def amount_shown(self, receipt):
        return kes(receipt.amount) if receipt.amount is not None else f"KES {receipt.trans_amount} (cents: review)"

    @admin.display(description="Paid by")
    def payer(self, receipt):
        return f"{receipt.payer_name} ({receipt.msisdn})" if receipt.payer_name else receipt.msisdn

    @admin.action(description="Leave unmatched (keep the record, off the to-do list)")
    def leave_unmatched(self, request, queryset):
        left = 0
        for receipt in queryset.select_related("business"):
            try:
                c2b_payment_leave(business=receipt.business, receipt_id=receipt.public_id)
            except ApplicationError as exc:
                messages.error(request, f"{receipt.trans_id}: {exc.message}")
            else:
                left += 1
        if left:
            messages.success(request, f"{left} payment{pluralize(left)} left unmatched.")

    def get_urls(self):
        from django.urls import path

        match = path("<path:object_id>/match/", self.admin_site.admin_view(self.match_view), name="mpesa_c2breceipt_match")
        return [match, *super().get_urls()]

    def match_view(self, request, object_id):
        """Attach the payment to an unpaid invoice through the same service as the API."""
        from django.contrib.admin.utils import unquote
        from django.http import Http404, HttpResponseRedirect
        from django.template.response import TemplateResponse

        receipt = self.get_object(request, unquote(object_id))  # scoped: another business's is None
        if receipt is None:
            raise Http404("No such payment.")
        back = reverse("admin:mpesa_c2breceipt_change", args=[receipt.pk])
        form = C2BMatchForm(request.POST or None)
        form.fields["sale"].queryset = Sale.objects.filter(
            business_id=receipt.business_id, channel=Sale.Channel.C2B, amount=receipt.amount or 0,
            status__in=(Sale.Status.AWAITING_PAYMENT, Sale.Status.EXPIRED), c2b_receipt__isnull=True,
        ).order_by("-created_at")
        form.fields["sale"].label_from_instance = lambda sale: f"{sale.account_number} – {kes(sale.amount)} – {when(sale.created_at)} ({sale.get_status_display()})"
        if request.method == "POST" and form.is_valid():
            try:
                c2b_payment_match(business=receipt.business, receipt_id=receipt.public_id, sale_id=form.cleaned_data["sale"].public_id)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Payment {receipt.trans_id} now pays invoice {form.cleaned_data['sale'].account_number}.")
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": "Attach this payment to an invoice",
            "subtitle": str(receipt),
            "opts": self.opts,
            "original": receipt,
            "form": form,
            "back": back,
        }
        return TemplateResponse(request, "admin/mpesa/c2breceipt/match.html", context)
