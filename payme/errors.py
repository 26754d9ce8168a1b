"""One error tree and one DRF exception handler.

Every error the API returns has the shape ``{"error": {"code", "message", "fields", "request_id"}}`` with a
stable ``code``. Services raise ``ApplicationError`` subclasses; DRF's own exceptions
(validation, auth, 404, throttling, parse errors) are translated here too.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from payme.observability import current_request_id
from payme.parsers import JsonTooDeep

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base of every error we raise on purpose. Subclasses set ``code`` and ``status_code``."""

    code = "application_error"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "The request could not be completed."

    def __init__(self, message=None, *, code=None, fields=None, extra=None, status_code=None):
        self.message = message or self.default_message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.fields = fields or {}
        self.extra = extra or {}
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "Some fields are not valid."


class NotFound(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_message = "Not found."


class Conflict(ApplicationError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    default_message = "The request conflicts with the current state."


class PaymentRequired(ApplicationError):
    code = "payment_required"
    status_code = status.HTTP_402_PAYMENT_REQUIRED


class UnprocessableEntity(ApplicationError):
    code = "unprocessable"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class RequestTooLarge(ApplicationError):
    code = "request_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_message = "The request body is too large."


class UpstreamError(ApplicationError):
    """Daraja said no (502) or did not answer (503)."""

    code = "daraja_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    # Only the JWT authenticator raises it: an expired, forged or revoked access token, or a token
    # whose user is gone. One code for "refresh, or sign in again", the same the refresh endpoint
    # gives for an expired or revoked refresh token (issue #13).
    drf_exceptions.AuthenticationFailed: "token_invalid",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ParseError: "malformed_json",
}


def _flatten_field_errors(detail, prefix=""):
    """Turn DRF's nested error detail into ``{"field": ["message", ...]}`` with dotted paths."""
    fields = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            fields.update(_flatten_field_errors(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    fields.update(_flatten_field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def _first_code(detail):
    if isinstance(detail, dict):
        for value in detail.values():
            found = _first_code(value)
            if found:
                return found
    elif isinstance(detail, list):
        for item in detail:
            found = _first_code(item)
            if found:
                return found
    elif isinstance(detail, drf_exceptions.ErrorDetail):
        return detail.code
    return None


TOKEN_INVALID_MESSAGE = "The token is invalid, expired or has been revoked: refresh it, or sign in again."

# Codes that serializers raise on purpose and that clients should see at the top level.
PROMOTED_VALIDATION_CODES = {"email_taken", "invalid_phone", "amount_out_of_range"}


def error_body(code, message, fields=None, **extra):
    """The one error shape; ``request_id`` is the X-Request-ID of this answer, for support to quote."""
    body = {"code": code, "message": message, "fields": fields or {}, "request_id": current_request_id()}
    body.update(extra)
    return {"error": body}


def exception_handler(exc, context):
    """Render every error in one shape; keeps DRF's rollback of an atomic block."""
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE from its Content-Length, before
        # reading it; without this it was a 500 (issue #13).
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = RequestTooLarge(f"The request body is larger than {limit} bytes.", extra={"max_bytes": limit})

    headers = {}
    if isinstance(exc, ApplicationError):
        set_rollback()
        body = error_body(exc.code, exc.message, exc.fields, **exc.extra)
        return Response(body, status=exc.status_code)

    if isinstance(exc, drf_exceptions.ValidationError):
        set_rollback()
        fields = _flatten_field_errors(exc.detail)
        specific = _first_code(exc.detail)
        code = specific if specific in PROMOTED_VALIDATION_CODES else "invalid"
        names = ", ".join(sorted(fields))
        message = f"Some fields are not valid: {names}." if names else "The request is not valid."
        return Response(error_body(code, message, fields), status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, drf_exceptions.APIException):
        set_rollback()
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), exc.default_code)
        if isinstance(exc, JsonTooDeep):
            message = str(exc.detail)
        elif isinstance(exc, drf_exceptions.ParseError):
            message = "The request body is not valid JSON."
        elif isinstance(exc, drf_exceptions.Throttled):
            message = "Too many requests. Try again later."
            if exc.wait is not None:
                headers["Retry-After"] = str(max(1, int(exc.wait)))  # DRF has rounded it up already
        elif isinstance(exc, drf_exceptions.NotFound):
            message = "Not found."
        elif isinstance(exc, drf_exceptions.AuthenticationFailed):
            message = TOKEN_INVALID_MESSAGE
        else:
            message = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else exc.default_detail
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        response = Response(error_body(code, str(message)), status=exc.status_code, headers=headers)
        return response

    # Anything else is our bug: log it with the traceback, answer in the same shape, and never
    # echo the exception text (it could carry a secret).
    set_rollback()
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(
        error_body("internal_error", "Something went wrong on our side. It has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
