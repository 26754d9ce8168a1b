from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin_mixins import TenantScopedAdmin
from accounts.models import Business, Membership, User


@admin.register(User)
class UserAdmin(TenantScopedAdmin, admin.ModelAdmin):
    tenant_field = "membership__business"
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    fields = ("email", "full_name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login")
    readonly_fields = ("date_joined", "last_login", "password_link")
    ordering = ("email",)

    # Superusers set a user's password with Django's own view and form (passwords are sensitive
    # POST parameters there: never in an error report). Owners manage cashiers through the API.
    change_password_form = AdminPasswordChangeForm
    change_user_password_template = None
    user_change_password = auth_admin.UserAdmin.user_change_password

    def get_urls(self):
        return [
            path("<id>/password/", self.admin_site.admin_view(self.superuser_change_password), name="accounts_user_password_change"),
        ] + super().get_urls()

    def superuser_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return self.user_change_password(request, id, form_url)

    def get_fields(self, request, obj=None):
        if request.user.is_superuser and obj is not None:
            return (*self.fields, "password_link")
        return self.fields

    @admin.display(description="Password")
    def password_link(self, obj):
        url = reverse(f"{self.admin_site.name}:accounts_user_password_change", args=[obj.pk])
        return format_html('<a href="{}">Set a new password</a>', url)

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
