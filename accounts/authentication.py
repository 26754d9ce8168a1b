from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings

from accounts.models import Membership, User


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt, but the user, their membership and business come back in one query: every
    API request needs all three, and a query per request is the price of a whole view here."""

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise AuthenticationFailed(_("Token contained no recognizable user identification"), code="token_invalid") from None
        user = User.objects.select_related("membership__business").filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        try:
            user._payme_membership = user.membership
        except Membership.DoesNotExist:
            user._payme_membership = None
        return user
