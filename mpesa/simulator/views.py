"""Daraja's paths, answered offline. Mounted at /simulator/daraja/ only when MPESA_ENV=simulator."""

import base64
import binascii
import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from mpesa.simulator import engine


def _error(exc: engine.DarajaError):
    return JsonResponse(exc.body, status=exc.status)


@require_GET
def oauth(request):
    if request.GET.get("grant_type") != "client_credentials":
        return _error(engine.DarajaError(400, "400.008.02", "Invalid grant type passed"))
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return _error(engine.DarajaError(400, "400.008.01", "Invalid authentication type passed"))
    try:
        key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return _error(engine.DarajaError(400, "400.008.01", "Invalid authentication type passed"))
    if not key or not secret:
        # Daraja documents no body for bad credentials; an empty 400 is what integrators see.
        return JsonResponse({}, status=400)
    # expires_in is a string in every real response (REFERENCE.md section 2).
    return JsonResponse({"access_token": engine.issue_token(key), "expires_in": str(engine.TOKEN_TTL)})


def _json_post(request, handler):
    try:
        engine.check_bearer(request.headers.get("Authorization"))
        if request.content_type != "application/json":
            # Daraja's misleading answer to a missing JSON content type (REFERENCE.md section 1).
            raise engine.bad_request("BusinessShortCode")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise engine.DarajaError(400, "400.002.05", "Invalid Request Payload") from None
        return handler(body)
    except engine.DarajaError as exc:
        return _error(exc)


@csrf_exempt
@require_POST
def stk_push(request):
    return _json_post(request, lambda body: JsonResponse(engine.start_push(body)))


@csrf_exempt
@require_POST
def stk_query(request):
    def handle(body):
        status, answer = engine.query(body)
        return JsonResponse(answer, status=status)

    return _json_post(request, handle)
