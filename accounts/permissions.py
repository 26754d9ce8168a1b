from rest_framework.permissions import BasePermission

from accounts.selectors import tenant_for_request
from payme.observability import bind


class IsBusinessMember(BasePermission):
    """Any member (owner or cashier) of a business."""

    message = "This account does not belong to a business."

    def has_permission(self, request, view):
        tenant = tenant_for_request(request)
        if tenant is None:
            return False
        request.tenant = tenant
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
