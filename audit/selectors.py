from audit.models import AuditEvent


def audit_events(*, business, action: str = "", object_type: str = "", object_id: str = "", actor_email: str = "", since=None, until=None):
    """The business's audit events, newest first, narrowed by the given filters."""
    qs = AuditEvent.objects.filter(business=business).select_related("actor")
    if action:
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if actor_email:
        qs = qs.filter(actor_email__iexact=actor_email)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")
