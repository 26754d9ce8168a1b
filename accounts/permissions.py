from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.selectors import tenant_for_request
from payme.errors import NotFound
from payme.observability import bind

SEED_BUSINESS_KEY = "businessId"


def refuse_another_business(request, business) -> None:
    """The seeds' apps send ``businessId`` in bodies. The business always comes from the caller's
    membership; a ``businessId`` is accepted only when it is the caller's own, and any other value
    is 404 on every endpoint — as the README says (issue #13: /api/products ignored it while sales
    answered 404)."""
    data = request.data
    if isinstance(data, dict) and SEED_BUSINESS_KEY in data and str(data[SEED_BUSINESS_KEY]) != str(business.public_id):
        raise NotFound("Business not found.")


class IsBusinessMember(BasePermission):
    """Any member (owner or cashier) of a business."""

    message = "This account does not belong to a business."

    def has_permission(self, request, view):
        tenant = tenant_for_request(request)
        if tenant is None:
            return False
        request.tenant = tenant
        if request.method not in SAFE_METHODS:
            refuse_another_business(request, tenant.business)
        bind(business_id=str(tenant.business.public_id))
        return True


class IsBusinessOwner(IsBusinessMember):
    message = "Only the business owner can do this."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.tenant.is_owner


class OwnerWritesMemberReads(IsBusinessMember):
    """Cashiers read; only owners create, change or delete."""

    message = "Only the business owner can change this."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or request.tenant.is_owner
