from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, TenantScopedAdmin
from sales.models import Product, Sale, SaleItem, StockMovement


@admin.register(Product)
class ProductAdmin(TenantScopedAdmin, admin.ModelAdmin):
    owner_can_add = True
    owner_can_change = True
    list_display = ("name", "sku", "price", "stock", "is_active", "business")
    list_filter = ("is_active",)
    list_select_related = ("business",)
    search_fields = ("name", "sku")
    list_per_page = 50
    readonly_fields = ("stock", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["name", "sku", "price", "is_active", "stock", "created_at", "updated_at"]
        return (["business"] + fields) if request.user.is_superuser else fields


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
