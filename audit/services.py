"""``audit_record(...)``: the one door into the audit log, called by every app's services inside
the transaction that made the change (DESIGN.md, "The audit log"). A rolled-back change leaves no
audit row; a committed one always has its row."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from audit.models import AuditEvent
from payme.observability import REQUEST_ID_HEADER, current_request_id, plain_request_id

SECRET_SET = "set"
SECRET_NOT_SET = "not set"
SECRET_CHANGED = "changed"


@dataclass(frozen=True)
class AuditContext:
    """Where a change came from: the acting user, the request id and the caller's address."""

    actor: object = None
    request_id: str = ""
    ip: str | None = None


SYSTEM = AuditContext()


def audit_context(request) -> AuditContext:
    """The context of an API request or an admin page. The request id is the one the request
    middleware bound (a fresh UUID, or a trusted proxy's validated ``X-Request-ID``): the same id
    the answer's ``X-Request-ID`` header and the logs carry. Only where no middleware ran (a
    request built by hand) is the raw header taken, and then only if it is a plain token."""
    from mpesa.callbacks import client_ip

    user = getattr(request, "user", None)
    actor = user if user is not None and user.is_authenticated else None
    request_id = current_request_id() or plain_request_id(request.headers.get(REQUEST_ID_HEADER, ""))
    return AuditContext(actor=actor, request_id=request_id, ip=client_ip(request) or None)


def secret_state(value) -> str:
    return SECRET_SET if value else SECRET_NOT_SET


def field_changes(before: dict, after: dict, *, secret_fields=()) -> tuple[dict, dict]:
    """The fields whose value differs, as (before, after). A secret shows only whether it was
    set before and that it changed: its value never reaches the log."""
    old, new = {}, {}
    for name in sorted(set(before) | set(after)):
        if name in secret_fields:
            if after.get(name):  # a secret in ``after`` is a new value written (blank keeps it)
                old[name] = secret_state(before.get(name))
                new[name] = SECRET_CHANGED if before.get(name) else SECRET_SET
            continue
        if before.get(name) != after.get(name):
            old[name], new[name] = before.get(name), after.get(name)
    return old, new


def audit_record(
    *,
    business,
    action: str,
    object_type: str,
    object_id="",
    before: dict | None = None,
    after: dict | None = None,
    context: AuditContext | None = None,
) -> AuditEvent:
    """Append one audit event. Must run inside the caller's transaction (it is the caller's
    change being recorded); raises RuntimeError when called outside one. Without a request id in
    ``context`` it takes the running request's or task's (a worker's change is traced to the
    request that enqueued it)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction that made the change")
    context = context or SYSTEM
    actor = context.actor
    return AuditEvent.objects.create(
        business_id=getattr(business, "pk", business),
        actor=actor,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        before=before or {},
        after=after or {},
        request_id=(context.request_id or current_request_id())[:128],
        ip=context.ip,
    )


def audit_admin_form(request, *, form, obj, change: bool, object_type: str, secret_names: tuple[str, ...]) -> None:
    """An admin form that writes a config itself records the change here, in the caller's
    transaction: the changed fields before and after, secrets only as "set" / "changed" (the form
    keeps the stored values in ``_stored_secrets``; a blank secret input keeps the stored one)."""
    stored = getattr(form, "_stored_secrets", {})
    before, after = {}, {}
    for name in form.changed_data:
        if name in secret_names:
            if not form.cleaned_data.get(name):
                continue
            before[name] = secret_state(stored.get(name))
            after[name] = "changed" if stored.get(name) else "set"
        else:
            before[name] = form.initial.get(name) if change else None
            value = form.cleaned_data.get(name)
            after[name] = value if isinstance(value, (str, int, bool, type(None))) else str(value)
    if change and not after:
        return
    audit_record(business=obj.business_id, action=f"{object_type}.updated" if change else f"{object_type}.created",
                 object_type=object_type, object_id=obj.public_id, before=before if change else {}, after=after,
                 context=audit_context(request))
