"""Shared OpenAPI pieces: the one error shape, documented on every endpoint."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from payme.error_codes import codes_for_status, markdown_table

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

_SUMMARIES = {
    400: "Bad input; the field is named in `fields`, nothing was written.",
    401: "Not authenticated: no token, a token to refresh (or sign in again), or bad credentials.",
    402: "Not enough wallet tokens.",
    403: "Authenticated, but the role may not do this.",
    404: "Not found (also for another business's objects, and for another `businessId` in a body).",
    405: "Method not allowed.",
    409: "Conflicts with the current state.",
    413: "The body is too large; nothing was read or written.",
    415: "The body is not JSON.",
    422: "The Idempotency-Key was used with another body.",
    429: "Throttled; see Retry-After.",
    500: "Our bug (logged).",
    502: "Daraja refused the request.",
    503: "Daraja did not answer; the payment is resolved later.",
}


def _description(status: int) -> str:
    codes = ", ".join(f"`{code}`" for code in codes_for_status(status))
    return f"{_SUMMARIES[status]} Codes: {codes}." if codes else _SUMMARIES[status]


def error_responses(*codes):
    return {code: OpenApiResponse(ErrorBody, description=_description(code)) for code in codes}


_PAGE_PARAMETERS = {
    "cursor": [
        ("cursor", {"type": "string"}, "Opaque: follow `next` / `previous` as given. Anything else is 400."),
        ("page_size", {"type": "integer", "minimum": 1, "maximum": 100}, "Up to 100 (default 20)."),
    ],
    "page": [
        ("page", {"type": "integer", "minimum": 1}, "1 to the last page; anything else is 400."),
        ("page_size", {"type": "integer", "minimum": 1, "maximum": 100}, "Up to 100 (default 20)."),
    ],
}


def _page_kind(operation) -> str | None:
    schema = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.endswith("CursorPage"):
        return "cursor"
    if ref.endswith("Page"):
        return "page"
    return None


def add_body_and_auth_errors(result, generator, request, public):
    """drf-spectacular post-processing hook: every operation that takes a body may answer 400
    ``malformed_json``, 413 ``request_too_large`` and 415; every one that needs a token 401
    ``token_invalid``. The info description carries the full table of codes (payme/error_codes.py)."""
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = []
            if "requestBody" in operation:
                wanted += [400, 413, 415]
            if operation.get("security") and {} not in operation["security"]:
                wanted.append(401)
            page = _page_kind(operation)
            if page:
                # Lists paginate by hand in their views, so the generator does not see these; a bad
                # value is a 400 naming the parameter (payme.pagination).
                known = {p.get("name") for p in operation.setdefault("parameters", [])}
                for name, schema, text in _PAGE_PARAMETERS[page]:
                    if name not in known:
                        operation["parameters"].append({"in": "query", "name": name, "schema": schema, "description": text})
                wanted.append(400)
            for status in wanted:
                responses.setdefault(
                    str(status),
                    {"content": {"application/json": {"schema": error_ref}}, "description": _description(status)},
                )
    info = result.setdefault("info", {})
    info["description"] = (
        f"{info.get('description', '')}\n\nErrors always have the shape "
        '`{"error": {"code", "message", "fields"}}`. Every code a client can receive:\n\n'
        f"{markdown_table()}"
    ).strip()
    return result


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
