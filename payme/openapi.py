"""Shared OpenAPI pieces: the one error shape, documented on every endpoint."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorBody = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(help_text="Stable machine-readable code."),
                "message": serializers.CharField(help_text="Human-readable, safe to show."),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    help_text="Field name → messages, for validation errors.",
                ),
                "request_id": serializers.CharField(help_text="This answer's X-Request-ID: quote it to support."),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "Bad input (`invalid`, `malformed_json`, …); the field is named in `fields`.",
    401: "Not authenticated or bad credentials.",
    402: "Not enough wallet tokens (`insufficient_tokens`).",
    403: "Authenticated, but the role may not do this (`permission_denied`).",
    404: "Not found (also for another business's objects).",
    409: "Conflicts with the current state.",
    422: "`idempotency_key_reused`: the Idempotency-Key was used with another body.",
    429: "Throttled; see Retry-After.",
    502: "Daraja refused the request (`daraja_rejected`).",
    503: "Daraja did not answer (`daraja_unavailable`); the payment is resolved later.",
}


def error_responses(*codes):
    return {code: OpenApiResponse(ErrorBody, description=_DESCRIPTIONS[code]) for code in codes}


def paginated(serializer_class, *, cursor=False):
    """The page envelope our lists return, for the schema: page-number lists carry ``count``;
    cursor lists only ``next``/``previous``."""
    fields = {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
    }
    if not cursor:
        fields = {"count": serializers.IntegerField(), **fields}
    base = serializer_class.__name__.removesuffix("Out")
    return inline_serializer(name=f"{base}{'Cursor' if cursor else ''}Page", fields=fields)
