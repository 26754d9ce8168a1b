from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings

from accounts.models import Business, Membership, User
from payme import sql


@cache
def _user_with_tenant_sql(vendor: str) -> str:
    users, members, businesses = (sql.qn(model._meta.db_table) for model in (User, Membership, Business))
    return (
        f"SELECT {sql.columns(User)}, {sql.columns(Membership)}, {sql.columns(Business)} FROM {users} "
        f"LEFT JOIN {members} ON {members}.{sql.qn('user_id')} = {users}.{sql.qn('id')} "
        f"LEFT JOIN {businesses} ON {businesses}.{sql.qn('id')} = {members}.{sql.qn('business_id')} "
        f"WHERE {users}.{sql.qn('id')} = %s"
    )


def user_with_tenant(user_id):
    """The user, their membership and its business in one statement (every API request needs
    all three): plain SQL through ``payme.sql``, since compiling this three-table join is most of
    an authenticated request's cost in the ORM. Returns None for an unknown user."""
    u, m, b = (sql.width(model) for model in (User, Membership, Business))
    with connection.cursor() as cursor:
        cursor.execute(_user_with_tenant_sql(connection.vendor), [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    user = sql.build(User, row[:u])
    membership = None
    if row[u] is not None:
        membership = sql.build(Membership, row[u : u + m])
        membership.business = sql.build(Business, row[u + m : u + m + b])
        membership.user = user
    user._payme_membership = membership
    User.membership.related.set_cached_value(user, membership)  # user.membership: no 2nd query
    return user


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt, but the user, their membership and business come back in one query."""

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise AuthenticationFailed(_("Token contained no recognizable user identification"), code="token_invalid") from None
        if api_settings.USER_ID_FIELD != "id":
            raise ImproperlyConfigured("TenantJWTAuthentication looks users up by id: set SIMPLE_JWT['USER_ID_FIELD'] = 'id'.")
        text = str(user_id)
        if isinstance(user_id, bool) or not isinstance(user_id, (int, str)) or not (text.isascii() and text.isdigit()) or int(text) >= 2**63:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        user = user_with_tenant(int(text))
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        return user
