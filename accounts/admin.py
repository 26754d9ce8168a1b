from django.contrib import admin

from accounts.admin_mixins import TenantScopedAdmin
from accounts.models import Business, Membership, User


@admin.register(User)
class UserAdmin(TenantScopedAdmin, admin.ModelAdmin):
    tenant_field = "membership__business"
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    fields = ("email", "full_name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login")
    readonly_fields = ("date_joined", "last_login")
    ordering = ("email",)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return self.readonly_fields
        return ("email", "full_name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return True


@admin.register(Business)
class BusinessAdmin(TenantScopedAdmin, admin.ModelAdmin):
    tenant_field = "pk"
    owner_can_change = True
    list_display = ("name", "phone", "created_at")
    search_fields = ("name", "phone")
    readonly_fields = ("public_id", "created_at", "updated_at")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin, admin.ModelAdmin):
    list_display = ("user", "business", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "business")
    raw_id_fields = ("user", "business")
    search_fields = ("user__email", "business__name")
