"""Tenant resolution: the caller's business and role, in one place."""

from dataclasses import dataclass

from accounts.models import Business, Membership


@dataclass(frozen=True)
class Tenant:
    business: Business
    role: str
    membership: Membership

    @property
    def is_owner(self) -> bool:
        return self.role == Membership.Role.OWNER


def membership_for_user(user) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(user, "_payme_membership", False)
    if cached is not False:
        return cached
    membership = Membership.objects.select_related("business").filter(user=user).first()
    user._payme_membership = membership
    return membership


def business_for_user(user) -> Business | None:
    membership = membership_for_user(user)
    return membership.business if membership else None


def tenant_for_request(request) -> Tenant | None:
    """The caller's business and role, or None (not logged in, or a user with no business)."""
    membership = membership_for_user(getattr(request, "user", None))
    if membership is None:
        return None
    return Tenant(business=membership.business, role=membership.role, membership=membership)


def business_members(*, business: Business):
    return (
        Membership.objects.filter(business=business)
        .select_related("user")
        .order_by("created_at", "id")
    )
