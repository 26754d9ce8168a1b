from django.db import IntegrityError, transaction

from accounts.models import Business, Membership, User
from payme.errors import ValidationFailed


def _email_taken():
    return ValidationFailed(
        "An account with this email already exists.",
        code="email_taken",
        fields={"email": ["An account with this email already exists."]},
    )


def user_create(*, email: str, password: str, full_name: str, is_staff: bool = False) -> User:
    """Create a user; raises ValidationFailed(email_taken) on a duplicate email (any case)."""
    if User.objects.filter(email__iexact=email.strip()).exists():
        raise _email_taken()
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email, password=password, full_name=full_name, is_staff=is_staff
            )
    except IntegrityError:
        # Two sign-ups raced past the check; the case-insensitive unique index decided.
        raise _email_taken() from None


def business_sign_up(*, email: str, password: str, full_name: str, business_name: str, phone: str) -> Membership:
    """User, business, owner membership and wallet in one transaction: all or nothing.

    Owners are staff so the same email and password open the admin (scoped to their business).
    """
    from wallet.services import wallet_create

    with transaction.atomic():
        user = user_create(email=email, password=password, full_name=full_name, is_staff=True)
        business = Business.objects.create(name=business_name, phone=phone)
        membership = Membership.objects.create(user=user, business=business, role=Membership.Role.OWNER)
        wallet_create(business=business)
    return membership


def member_add(*, business: Business, email: str, password: str, full_name: str, role: str, context=None) -> Membership:
    """Add a cashier (or a second owner) to a business. Audited as ``member.added``."""
    from audit.services import audit_record

    with transaction.atomic():
        user = user_create(
            email=email, password=password, full_name=full_name, is_staff=role == Membership.Role.OWNER
        )
        membership = Membership.objects.create(user=user, business=business, role=role)
        audit_record(business=business, action="member.added", object_type="user", object_id=user.public_id,
                     after={"email": user.email, "full_name": full_name, "role": role}, context=context)
        return membership
