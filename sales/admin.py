from django import forms
from django.contrib import admin, messages

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from payme.errors import ValidationFailed
from sales.models import Product, Sale, SaleItem, StockMovement
from sales.services import product_restock


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


class SaleItemInline(admin.TabularInline):
    model = SaleItem
    extra = 0
    fields = ("product", "quantity", "unit_price")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return True


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


@admin.register(Sale)
class SaleAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "business", "amount", "phone", "status", "needs_review", "mpesa_receipt", "reason")
    list_filter = (NeedsReviewFilter, "status", "created_at")
    list_select_related = ("business",)
    search_fields = ("phone", "mpesa_receipt", "account_reference")
    date_hierarchy = "created_at"
    inlines = [SaleItemInline]
    exclude = ("push",)
    list_per_page = 50
    show_full_result_count = False


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "product", "delta", "stock_after", "reason", "sale")
    list_filter = ("reason",)
    list_select_related = ("product", "sale")
    raw_id_fields = ("product", "sale")
    list_per_page = 50
