"""The tenant-scoped admin: owners see and pick only their own business's rows."""


from accounts.models import Business, Membership, User
from accounts.selectors import business_for_user, membership_for_user


def is_owner(user) -> bool:
    membership = membership_for_user(user)
    return bool(membership and membership.role == Membership.Role.OWNER and user.is_staff and user.is_active)


class TenantScopedAdmin:
    """Mix into a ModelAdmin. ``tenant_field`` is the lookup from the model to its Business.

    Superusers see everything. Owners (staff with an owner membership) see their business only:
    querysets, foreign-key choices and new rows are all narrowed here. Owners get view access to
    every scoped model; ``owner_can_add/change/delete`` open writes where the product allows.
    """

    tenant_field = "business"
    owner_can_add = False
    owner_can_change = False
    owner_can_delete = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        business = business_for_user(request.user)
        if business is None:
            return qs.none()
        return qs.filter(**{self.tenant_field: business.pk if self.tenant_field == "pk" else business})

    def _narrow(self, request, queryset):
        if request.user.is_superuser:
            return queryset
        business = business_for_user(request.user)
        model = queryset.model
        if business is None:
            return queryset.none()
        if model is Business:
            return queryset.filter(pk=business.pk)
        if model is User:
            return queryset.filter(membership__business=business)
        if any(f.name == "business" for f in model._meta.get_fields()):
            return queryset.filter(business=business)
        return queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._narrow(request, field.queryset)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._narrow(request, field.queryset)
        return field

    def has_module_permission(self, request):
        return request.user.is_superuser or is_owner(request.user)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or is_owner(request.user)

    def has_add_permission(self, request, *args):
        return request.user.is_superuser or (self.owner_can_add and is_owner(request.user))

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser or (self.owner_can_change and is_owner(request.user))

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser or (self.owner_can_delete and is_owner(request.user))

    def save_model(self, request, obj, form, change):
        # An owner's new row belongs to the owner's business, whatever the form held.
        if not change and not request.user.is_superuser and hasattr(obj, "business_id"):
            obj.business = business_for_user(request.user)
        super().save_model(request, obj, form, change)


class ReadOnlyAdminMixin:
    """Ledgers, callbacks and pushes: nobody edits history, superusers included."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
