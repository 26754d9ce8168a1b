from django import template

from accounts.admin_mixins import is_owner
from accounts.selectors import business_for_user
from sales.dashboard import build_dashboard

register = template.Library()


@register.simple_tag(takes_context=True)
def business_dashboard(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser and business_for_user(user) is None:
        return build_dashboard(None)
    if is_owner(user):
        return build_dashboard(business_for_user(user))
    return None


@register.simple_tag(takes_context=True)
def admin_index_heading(context):
    """The index's title: an owner's business, or the platform for a superuser (who has none)."""
    user = getattr(context.get("request"), "user", None)
    if user is not None and user.is_authenticated and business_for_user(user) is None and user.is_superuser:
        return "PayMe platform"
    return "Your business"
