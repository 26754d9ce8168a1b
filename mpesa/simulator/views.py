"""Daraja's paths, answered offline. Mounted at /simulator/daraja/ when MPESA_ENV=simulator, and
served at Daraja's root paths by ``manage.py daraja_simulator`` (mpesa/simulator/server.py).

Whatever goes wrong, the answer is Daraja's JSON envelope, never a Django HTML page: unknown
paths, wrong methods, and (no CSRF here) POSTs to /oauth."""

import base64
import binascii
import json
from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from mpesa.simulator import engine, money, registry


def _error(exc: engine.DarajaError):
    response = JsonResponse(exc.body, status=exc.status)
    # A deliberate Daraja answer (a pending query is a 500), not a server error to log as one.
    response._has_been_logged = True
    return response


def _only(method):
    """Like require_GET/require_POST, but answering Daraja's envelope instead of an empty 405."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != method:
                return _error(engine.DarajaError(405, "405.001", "Method Not Allowed"))
            return view(request, *args, **kwargs)

        return csrf_exempt(wrapped)

    return decorator


@csrf_exempt
def not_found(request, *args, **kwargs):
    return _error(engine.DarajaError(404, "404.001.01", "Resource not found"))


def server_error(request, *args, **kwargs):
    return _error(engine.DarajaError(500, "500.001.1001", "Internal server error"))


def _refused():
    # Daraja answers an unknown consumer key or a wrong secret with HTTP 400 and an empty body
    # (REFERENCE.md section 2: "do not parse the body").
    response = HttpResponse(b"", status=400)
    del response["Content-Type"]
    return response


@_only("GET")
def oauth(request):
    if request.GET.get("grant_type") != "client_credentials":
        return _error(engine.DarajaError(400, "400.008.02", "Invalid grant type passed"))
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return _error(engine.DarajaError(400, "400.008.01", "Invalid authentication type passed"))
    try:
        key, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return _error(engine.DarajaError(400, "400.008.01", "Invalid authentication type passed"))
    if not registry.app_exists(key, secret):
        return _refused()
    # expires_in is a string in every real response (REFERENCE.md section 2).
    return JsonResponse({"access_token": engine.issue_token(key), "expires_in": str(engine.TOKEN_TTL)})


def _json_post(request, handler, product="stk"):
    try:
        engine.check_bearer(request.headers.get("Authorization"), product)
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


@_only("POST")
def stk_push(request):
    return _json_post(request, lambda body: JsonResponse(engine.start_push(body)))


@_only("POST")
def stk_query(request):
    def handle(body):
        status, answer = engine.query(body)
        return JsonResponse(answer, status=status)

    return _json_post(request, handle)


def _acknowledge(operation, product, **kwargs):
    @_only("POST")
    def view(request):
        return _json_post(request, lambda body: JsonResponse(operation(body, **kwargs)), product)

    return view


b2c_v3 = _acknowledge(money.b2c, "b2c", version="v3")
b2c_v1 = _acknowledge(money.b2c, "b2c", version="v1")
reversal = _acknowledge(money.reversal, "stk")
transaction_status = _acknowledge(money.transaction_status, "status")
account_balance = _acknowledge(money.account_balance, "stk")
c2b_register_v1 = _acknowledge(money.c2b_register, "c2b", version="v1")
c2b_register_v2 = _acknowledge(money.c2b_register, "c2b", version="v2")
c2b_simulate_v1 = _acknowledge(money.c2b_simulate, "c2b", version="v1")
c2b_simulate_v2 = _acknowledge(money.c2b_simulate, "c2b", version="v2")
