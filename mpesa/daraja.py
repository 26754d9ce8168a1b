"""THE Daraja client. Every app talks to Safaricom through this module and nothing else.

- Credentials are passed in; this module never reads a business's config or the ORM.
- One OAuth token per (environment, consumer key), cached in the Django cache (Redis in
  production, shared by every worker and host) until 60 s before it expires. Daraja invalidates
  the previous token when a new one is minted, so only one process refreshes at a time.
- Explicit timeouts, and a total time budget per call (a trickling body cannot hold a worker).
- Typed results; ``DarajaRejected`` (Daraja answered no, with its errorCode) is kept apart from
  ``DarajaUnavailable`` (no usable answer: timeout, reset, 5xx without envelope, HTML, bad JSON).
- An STK push POST is never retried, except once after an "Invalid Access Token" answer: Daraja
  rejected that request before it reached the customer, so no prompt can have been sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from django.conf import settings
from django.core.cache import cache as default_cache

from mpesa import rules
from mpesa.phone import mask_phone
from payme import metrics

logger = logging.getLogger(__name__)

NAIROBI = ZoneInfo("Africa/Nairobi")
OAUTH_PATH = "/oauth/v1/generate?grant_type=client_credentials"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
C2B_REGISTER_PATHS = {"v1": "/mpesa/c2b/v1/registerurl", "v2": "/mpesa/c2b/v2/registerurl"}
# "Invalid Access Token" differs per API product (REFERENCE.md section 2).
TOKEN_ERROR_CODES = {"404.001.03", "401.002.01", "400.003.01"}
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
REVERSAL_PATH = "/mpesa/reversal/v1/request"
TRANSACTION_STATUS_PATH = "/mpesa/transactionstatus/v1/query"
ACCOUNT_BALANCE_PATH = "/mpesa/accountbalance/v1/query"
B2C_COMMANDS = ("BusinessPayment", "SalaryPayment", "PromotionPayment")
# REFERENCE.md section 15: these four break Daraja's credential; refuse them on input.
INITIATOR_PASSWORD_FORBIDDEN = "()@."
DUPLICATE_ORIGINATOR = "500.002.1001"
CERTS_DIR = Path(__file__).resolve().parent / "certs"
CERTIFICATES = {
    "production": CERTS_DIR / "production.cer",
    "sandbox": CERTS_DIR / "sandbox.cer",
    "simulator": Path(__file__).resolve().parent / "simulator" / "certs" / "simulator.cer",
}
TOKEN_EARLY_REFRESH_SECONDS = 60
MAX_BODY_BYTES = 1024 * 1024
# STK query answers "4999" with HTTP 200 while still processing (one 2026 observation).
QUERY_PENDING_RESULT_CODES = {"4999"}


# --- Types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """A Daraja app: consumer key and secret. The secret never appears in repr or logs."""

    consumer_key: str
    consumer_secret: str = field(repr=False)

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(self.consumer_key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class StkPushRequest:
    """What one STK push asks for. ``shortcode`` is the number the Password is built with (the
    paybill, or the till's store number); ``party_b`` the paybill or the till number."""

    shortcode: str
    passkey: str = field(repr=False)
    transaction_type: str
    party_b: str
    amount: int
    phone: str
    callback_url: str
    account_reference: str
    description: str


@dataclass(frozen=True)
class StkPushAccepted:
    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str
    raw: dict


@dataclass(frozen=True)
class StkQueryResult:
    """``pending`` True means "still being processed": not a failure."""

    pending: bool
    result_code: str | None
    result_desc: str
    raw: dict


@dataclass(frozen=True)
class Initiator:
    """An API operator of a shortcode (B2C, reversal, status, balance). The password never
    appears in repr or logs; the SecurityCredential is computed from it at call time."""

    shortcode: str
    name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class CommandAccepted:
    """Daraja's acknowledgement of a result-URL command; the result comes later."""

    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str
    raw: dict
    duplicate: bool = False


@dataclass(frozen=True)
class C2BRegistered:
    """Daraja's answer to a C2B register URL call (the key really is "OriginatorCoversationID")."""

    originator_conversation_id: str
    response_description: str
    raw: dict


class DarajaError(Exception):
    pass


class DarajaInvalidRequest(DarajaError, ValueError):
    """Our own validation refused the request before anything was sent."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


class DarajaRejected(DarajaError):
    """Daraja answered, and the answer is no (its error envelope, or a non-zero ResponseCode)."""

    def __init__(self, error_code: str, error_message: str, *, http_status: int | None = None, raw=None):
        self.error_code = str(error_code)
        self.error_message = str(error_message)
        self.http_status = http_status
        self.raw = raw
        super().__init__(f"{self.error_code}: {self.error_message}")


class DarajaUnavailable(DarajaError):
    """No usable answer. For an STK push this means the prompt may or may not have been sent."""

    def __init__(self, reason: str, *, http_status: int | None = None):
        self.reason = reason
        self.http_status = http_status
        super().__init__(reason)


# --- Helpers ----------------------------------------------------------------------------------


def timestamp_now() -> str:
    """``YYYYMMDDHHmmss`` in Africa/Nairobi, whatever the server's zone (REFERENCE.md 3.2)."""
    return datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


def _lower_keys(body) -> dict:
    return {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}


def _envelope(body) -> tuple[str, str] | None:
    """Daraja's error envelope, read case-insensitively (a Go SDK mocks ErrorCode/ErrorMessage)."""
    lowered = _lower_keys(body)
    if "errorcode" in lowered:
        return str(lowered.get("errorcode")), str(lowered.get("errormessage", ""))
    return None


def validate_stk_request(req: StkPushRequest) -> None:
    """Daraja's field rules, checked before sending. Raises DarajaInvalidRequest."""
    if isinstance(req.amount, bool) or not isinstance(req.amount, int):
        raise DarajaInvalidRequest("Amount", "must be a whole number of shillings")
    if not 1 <= req.amount <= settings.MPESA_MAX_AMOUNT:
        raise DarajaInvalidRequest("Amount", f"must be between 1 and {settings.MPESA_MAX_AMOUNT}")
    if not rules.PHONE_RE.match(str(req.phone)):
        raise DarajaInvalidRequest("PhoneNumber", "must be 2547XXXXXXXX or 2541XXXXXXXX")
    if not rules.SHORTCODE_RE.match(str(req.shortcode)):
        raise DarajaInvalidRequest("BusinessShortCode", "must be 5 to 7 digits")
    if not rules.SHORTCODE_RE.match(str(req.party_b)):
        raise DarajaInvalidRequest("PartyB", "must be 5 to 7 digits")
    if req.transaction_type not in (rules.PAYBILL, rules.BUY_GOODS):
        raise DarajaInvalidRequest("TransactionType", "must be CustomerPayBillOnline or CustomerBuyGoodsOnline")
    if req.transaction_type == rules.PAYBILL and str(req.party_b) != str(req.shortcode):
        raise DarajaInvalidRequest("PartyB", "must equal BusinessShortCode for a paybill")
    if not req.passkey or not req.passkey.isascii():
        raise DarajaInvalidRequest("Password", "the passkey is missing or not ASCII")
    if not req.account_reference or len(req.account_reference) > rules.ACCOUNT_REFERENCE_MAX:
        raise DarajaInvalidRequest("AccountReference", "must be 1 to 12 characters")
    if not req.description or len(req.description) > rules.TRANSACTION_DESC_MAX:
        raise DarajaInvalidRequest("TransactionDesc", "must be 1 to 13 characters")
    problem = rules.callback_url_problem(req.callback_url)
    if problem:
        raise DarajaInvalidRequest("CallBackURL", problem)


def initiator_password_problem(password: str) -> str | None:
    if not password or not password.isascii() or not password.isprintable():
        return "must be printable ASCII"
    bad = sorted({c for c in password if c in INITIATOR_PASSWORD_FORBIDDEN})
    if bad:
        return f"must not contain {' '.join(bad)} (they break Daraja's SecurityCredential)"
    return None


@lru_cache(maxsize=8)
def _public_key(path: str):
    return x509.load_pem_x509_certificate(Path(path).read_bytes()).public_key()


def certificate_path(environment: str) -> Path:
    override = getattr(settings, "MPESA_CERTIFICATE_PATH", "")
    if override and environment != "simulator":
        return Path(override)
    return CERTIFICATES[environment]


def security_credential(password: str, *, environment: str) -> str:
    """base64(RSA PKCS#1 v1.5(password bytes)) with the environment's certificate (REFERENCE.md
    section 6: the plain password bytes, not OAEP). Random padding: it differs on every call.
    Computed at call time and never stored."""
    key = _public_key(str(certificate_path(environment)))
    return base64.b64encode(key.encrypt(password.encode(), PKCS1v15())).decode()


_local = threading.local()


def _session() -> requests.Session:
    # One keep-alive session per thread: a new TCP (and TLS) connection per call is the
    # single biggest cost of a naive client.
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # requests re-reads the proxy and CA-bundle variables from the whole environment on every
        # call (~1 ms of CPU here); they are read once per thread instead (_proxies_for below).
        # Restart the workers after changing HTTPS_PROXY, NO_PROXY or REQUESTS_CA_BUNDLE.
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _local.session = session
    return session


@lru_cache(maxsize=32)
def _proxies_for(url: str) -> dict:
    """The proxies the environment sets for ``url`` (empty when NO_PROXY covers its host)."""
    return requests.utils.get_environ_proxies(url)


# --- The client -------------------------------------------------------------------------------


class DarajaClient:
    def __init__(
        self,
        *,
        credentials: Credentials,
        environment: str | None = None,
        base_url: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        cache=None,
    ):
        self.credentials = credentials
        self.environment = environment or settings.MPESA_ENV
        self.base_url = (base_url or settings.MPESA_BASE_URL).rstrip("/")
        self.connect_timeout = connect_timeout if connect_timeout is not None else settings.MPESA_CONNECT_TIMEOUT
        self.read_timeout = read_timeout if read_timeout is not None else settings.MPESA_READ_TIMEOUT
        self.cache = cache or default_cache

    # -- transport --

    def _send(self, method: str, path: str, *, json_body=None, headers=None, auth=None):
        """One HTTP exchange within the time budget. Returns (status, parsed JSON or None, text)."""
        url = self.base_url + path
        budget = self.connect_timeout + self.read_timeout
        deadline = time.monotonic() + budget
        try:
            response = _session().request(
                method,
                url,
                json=json_body,
                headers=headers,
                auth=auth,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,
                proxies=_proxies_for(self.base_url),
            )
            chunks, size = [], 0
            try:
                # read1 returns what one recv brings, so the deadline is checked between small
                # reads: a body trickled a byte at a time cannot hold the worker past the budget
                # (iter_content(8192) would wait for 8 KiB or the end of the body).
                while chunk := response.raw.read1(8192, decode_content=True):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise DarajaUnavailable("Daraja's answer was too large", http_status=response.status_code)
                    if time.monotonic() > deadline:
                        raise DarajaUnavailable("Daraja's answer did not arrive in time", http_status=response.status_code)
            finally:
                response.close()
        except requests.Timeout:
            raise DarajaUnavailable("Daraja did not answer in time") from None
        except requests.ConnectionError:
            raise DarajaUnavailable("Daraja could not be reached") from None
        except requests.RequestException as exc:
            raise DarajaUnavailable(f"HTTP error talking to Daraja ({type(exc).__name__})") from None
        text = b"".join(chunks).decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return response.status_code, parsed, text

    # -- OAuth --

    @property
    def _token_key(self) -> str:
        return f"daraja:token:{self.environment}:{self.credentials.key_hash}"

    @metrics.daraja_call("oauth")
    def _fetch_token(self) -> tuple[str, int]:
        if not (self.credentials.consumer_key.isascii() and self.credentials.consumer_secret.isascii()):
            raise DarajaInvalidRequest("Credentials", "consumer key and secret must be ASCII")
        status, body, _ = self._send(
            "GET",
            OAUTH_PATH,
            auth=(self.credentials.consumer_key, self.credentials.consumer_secret),
        )
        if status >= 500 or (status == 200 and not isinstance(body, dict)):
            raise DarajaUnavailable("Daraja's OAuth endpoint failed", http_status=status)
        if status != 200:
            # REFERENCE.md section 2: treat any non-200 from /oauth as an authentication failure.
            raise DarajaRejected(
                "oauth_failed",
                "Daraja refused the consumer key and secret",
                http_status=status,
            )
        token = body.get("access_token")
        try:
            expires_in = int(str(body.get("expires_in")))  # "3599" in real life, 3599 in the docs
        except (TypeError, ValueError):
            expires_in = 3599
        if not token or not isinstance(token, str):
            raise DarajaUnavailable("Daraja's OAuth answer had no token", http_status=status)
        return token, expires_in

    def access_token(self) -> str:
        """The cached token, refreshing it under a cross-process cache lock when needed."""
        cached = self.cache.get(self._token_key)
        if cached:
            return cached
        lock_key = self._token_key + ":lock"
        wait_until = time.monotonic() + self.connect_timeout + self.read_timeout
        while True:
            if self.cache.add(lock_key, "1", timeout=int(self.connect_timeout + self.read_timeout) + 1):
                try:
                    cached = self.cache.get(self._token_key)
                    if cached:
                        return cached
                    token, expires_in = self._fetch_token()
                    ttl = max(expires_in - TOKEN_EARLY_REFRESH_SECONDS, 1)
                    self.cache.set(self._token_key, token, timeout=ttl)
                    metrics.oauth_token_minted(self.environment)
                    logger.info("Daraja token refreshed env=%s key=%s ttl=%ss", self.environment, self.credentials.key_hash[:8], ttl)
                    return token
                finally:
                    self.cache.delete(lock_key)
            time.sleep(0.05)
            cached = self.cache.get(self._token_key)
            if cached:
                return cached
            if time.monotonic() > wait_until:
                raise DarajaUnavailable("Timed out waiting for another worker to refresh the Daraja token")

    def _discard_token(self, token: str) -> None:
        if self.cache.get(self._token_key) == token:
            self.cache.delete(self._token_key)

    def _authorized_post(self, path: str, body: dict):
        """POST with the cached token; on an invalid-token answer refresh once and retry once."""
        for attempt in (1, 2):
            token = self.access_token()
            status, parsed, text = self._send(
                "POST",
                path,
                json_body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            envelope = _envelope(parsed)
            if envelope and envelope[0] in TOKEN_ERROR_CODES and attempt == 1:
                logger.warning("Daraja said the access token is invalid (%s); refreshing once", envelope[0])
                self._discard_token(token)
                continue
            return status, parsed, text
        raise AssertionError("unreachable")

    # -- STK push --

    @metrics.daraja_call("stk_push")
    def stk_push(self, req: StkPushRequest, *, timestamp: str | None = None) -> StkPushAccepted:
        """Send one STK push. Raises DarajaInvalidRequest, DarajaRejected or DarajaUnavailable."""
        validate_stk_request(req)
        ts = timestamp or timestamp_now()
        body = {
            "BusinessShortCode": str(req.shortcode),
            "Password": stk_password(str(req.shortcode), req.passkey, ts),
            "Timestamp": ts,
            "TransactionType": req.transaction_type,
            "Amount": int(req.amount),
            "PartyA": req.phone,
            "PartyB": str(req.party_b),
            "PhoneNumber": req.phone,
            "CallBackURL": req.callback_url,
            "AccountReference": req.account_reference,
            "TransactionDesc": req.description,
        }
        status, parsed, _ = self._authorized_post(STK_PUSH_PATH, body)
        envelope = _envelope(parsed)
        if envelope:
            logger.info("STK push rejected code=%s phone=%s", envelope[0], mask_phone(req.phone))
            raise DarajaRejected(envelope[0], envelope[1], http_status=status, raw=parsed)
        if not isinstance(parsed, dict) or status != 200:
            raise DarajaUnavailable(f"Unexpected answer from Daraja (HTTP {status})", http_status=status)
        response_code = str(parsed.get("ResponseCode", ""))
        checkout_id = parsed.get("CheckoutRequestID")
        if response_code != "0":
            if response_code:
                raise DarajaRejected(response_code, str(parsed.get("ResponseDescription", "")), http_status=status, raw=parsed)
            raise DarajaUnavailable("Daraja's answer had no ResponseCode", http_status=status)
        if not isinstance(checkout_id, str) or not checkout_id:
            raise DarajaUnavailable("Daraja's answer had no CheckoutRequestID", http_status=status)
        return StkPushAccepted(
            merchant_request_id=str(parsed.get("MerchantRequestID", "")),
            checkout_request_id=checkout_id,
            response_code=response_code,
            response_description=str(parsed.get("ResponseDescription", "")),
            customer_message=str(parsed.get("CustomerMessage", "")),
            raw=parsed,
        )

    # -- STK query --

    @metrics.daraja_call("stk_query")
    def stk_query(self, *, shortcode: str, passkey: str, checkout_request_id: str) -> StkQueryResult:
        ts = timestamp_now()
        body = {
            "BusinessShortCode": str(shortcode),
            "Password": stk_password(str(shortcode), passkey, ts),
            "Timestamp": ts,
            "CheckoutRequestID": checkout_request_id,
        }
        status, parsed, _ = self._authorized_post(STK_QUERY_PATH, body)
        envelope = _envelope(parsed)
        if envelope:
            code, message = envelope
            if code == "500.001.1001" and "being processed" in message.lower():
                return StkQueryResult(pending=True, result_code=None, result_desc=message, raw=parsed)
            raise DarajaRejected(code, message, http_status=status, raw=parsed)
        if status != 200 or not isinstance(parsed, dict) or "ResultCode" not in parsed:
            raise DarajaUnavailable(f"Unexpected answer from Daraja (HTTP {status})", http_status=status)
        result_code = str(parsed["ResultCode"])
        return StkQueryResult(
            pending=result_code in QUERY_PENDING_RESULT_CODES,
            result_code=result_code,
            result_desc=str(parsed.get("ResultDesc", "")),
            raw=parsed,
        )

    # -- Result-URL commands: B2C, reversal, transaction status, account balance --

    def _credential(self, initiator: Initiator) -> str:
        problem = initiator_password_problem(initiator.password)
        if problem:
            raise DarajaInvalidRequest("SecurityCredential", f"the initiator password {problem}")
        return security_credential(initiator.password, environment=self.environment)

    def _command(self, path: str, body: dict, *, originator_id: str | None = None) -> CommandAccepted:
        """POST a command once. ``500.002.1001`` (duplicate OriginatorConversationID) means Daraja
        already has this request (REFERENCE.md section 15): it is returned as accepted with
        ``duplicate=True`` — the caller settles it by Transaction Status and never resends."""
        status, parsed, _ = self._authorized_post(path, body)
        envelope = _envelope(parsed)
        if envelope:
            if envelope[0] == DUPLICATE_ORIGINATOR and originator_id:
                return CommandAccepted("", originator_id, envelope[0], envelope[1], parsed, duplicate=True)
            raise DarajaRejected(envelope[0], envelope[1], http_status=status, raw=parsed)
        if status != 200 or not isinstance(parsed, dict):
            raise DarajaUnavailable(f"Unexpected answer from Daraja (HTTP {status})", http_status=status)
        response_code = str(parsed.get("ResponseCode", ""))
        if response_code != "0":
            if response_code:
                raise DarajaRejected(response_code, str(parsed.get("ResponseDescription", "")), http_status=status, raw=parsed)
            raise DarajaUnavailable("Daraja's answer had no ResponseCode", http_status=status)
        return CommandAccepted(
            conversation_id=str(parsed.get("ConversationID") or ""),
            originator_conversation_id=str(parsed.get("OriginatorConversationID") or originator_id or ""),
            response_code=response_code,
            response_description=str(parsed.get("ResponseDescription", "")),
            raw=parsed,
        )

    def b2c_payment(
        self, *, initiator: Initiator, originator_conversation_id: str, command_id: str, amount: int, phone: str,
        remarks: str, result_url: str, timeout_url: str, occasion: str = "",
    ) -> CommandAccepted:
        """B2C v3: we generate the OriginatorConversationID (unique per payout, recorded before the
        call). Never retried: a second POST can pay twice."""
        if command_id not in B2C_COMMANDS:
            raise DarajaInvalidRequest("CommandID", f"must be one of {', '.join(B2C_COMMANDS)}")
        _check_amount(amount)
        if not rules.PHONE_RE.match(str(phone)):
            raise DarajaInvalidRequest("PartyB", "must be 2547XXXXXXXX or 2541XXXXXXXX")
        _check_shortcode("PartyA", initiator.shortcode)
        if not 2 <= len(remarks) <= 100:
            raise DarajaInvalidRequest("Remarks", "must be 2 to 100 characters")
        _check_urls(result_url, timeout_url)
        body = {
            "OriginatorConversationID": originator_conversation_id,
            "InitiatorName": initiator.name,
            "SecurityCredential": self._credential(initiator),
            "CommandID": command_id,
            "Amount": int(amount),
            "PartyA": str(initiator.shortcode),
            "PartyB": str(phone),
            "Remarks": remarks,
            "QueueTimeOutURL": timeout_url,
            "ResultURL": result_url,
            "Occasion": occasion or remarks[:100],
        }
        return self._command(B2C_PATH, body, originator_id=originator_conversation_id)

    def reversal(
        self, *, initiator: Initiator, transaction_id: str, amount: int, remarks: str, result_url: str, timeout_url: str,
        occasion: str = "",
    ) -> CommandAccepted:
        """Reverse a receipt into the shortcode. ``RecieverIdentifierType`` is misspelled on purpose."""
        _check_amount(amount)
        _check_shortcode("ReceiverParty", initiator.shortcode)
        if not transaction_id or not str(transaction_id).isalnum():
            raise DarajaInvalidRequest("TransactionID", "must be an M-Pesa receipt")
        _check_urls(result_url, timeout_url)
        body = {
            "Initiator": initiator.name,
            "SecurityCredential": self._credential(initiator),
            "CommandID": "TransactionReversal",
            "TransactionID": transaction_id,
            "Amount": int(amount),
            "ReceiverParty": str(initiator.shortcode),
            "RecieverIdentifierType": "11",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": remarks[:100] or "Refund",
            "Occasion": occasion or remarks[:100] or "Refund",
        }
        return self._command(REVERSAL_PATH, body)

    def transaction_status(
        self, *, initiator: Initiator, result_url: str, timeout_url: str, transaction_id: str = "",
        original_conversation_id: str = "", remarks: str = "Reconciliation",
    ) -> CommandAccepted:
        """Ask for a transaction by receipt or by OriginatorConversationID (never both empty).
        Safe to repeat: it moves no money."""
        if not transaction_id and not original_conversation_id:
            raise DarajaInvalidRequest("TransactionID", "give the receipt or the OriginalConversationID")
        _check_shortcode("PartyA", initiator.shortcode)
        _check_urls(result_url, timeout_url)
        body = {
            "Initiator": initiator.name,
            "SecurityCredential": self._credential(initiator),
            "CommandID": "TransactionStatusQuery",
            "PartyA": str(initiator.shortcode),
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": remarks,
            "Occasion": remarks,
        }
        if transaction_id:
            body["TransactionID"] = transaction_id
        if original_conversation_id:
            body["OriginalConversationID"] = original_conversation_id
        return self._command(TRANSACTION_STATUS_PATH, body)

    def account_balance(self, *, initiator: Initiator, result_url: str, timeout_url: str, remarks: str = "Balance") -> CommandAccepted:
        _check_shortcode("PartyA", initiator.shortcode)
        _check_urls(result_url, timeout_url)
        body = {
            "Initiator": initiator.name,
            "SecurityCredential": self._credential(initiator),
            "CommandID": "AccountBalance",
            "PartyA": str(initiator.shortcode),
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": remarks,
        }
        return self._command(ACCOUNT_BALANCE_PATH, body)

    # -- C2B register URL --

    def c2b_register_urls(
        self,
        *,
        shortcode: str,
        confirmation_url: str,
        validation_url: str = "",
        response_type: str = "Completed",
        version: str = "v2",
    ) -> C2BRegistered:
        """Register a shortcode's C2B confirmation (and optional validation) URLs. The version must
        match the API product of the Daraja app (else ``401.003.01``, REFERENCE.md section 15).
        Raises DarajaInvalidRequest, DarajaRejected (e.g. ``500.003.1001`` already registered) or
        DarajaUnavailable. Registering again is harmless, so callers may retry it."""
        if version not in C2B_REGISTER_PATHS:
            raise DarajaInvalidRequest("version", "must be v1 or v2")
        if not rules.SHORTCODE_RE.match(str(shortcode)):
            raise DarajaInvalidRequest("ShortCode", "must be 5 to 7 digits")
        if response_type not in ("Completed", "Cancelled"):
            raise DarajaInvalidRequest("ResponseType", "must be Completed or Cancelled")
        for name, url in (("ConfirmationURL", confirmation_url), ("ValidationURL", validation_url)):
            if url or name == "ConfirmationURL":
                problem = rules.callback_url_problem(url)
                if problem:
                    raise DarajaInvalidRequest(name, problem)
        body = {"ShortCode": str(shortcode), "ResponseType": response_type, "ConfirmationURL": confirmation_url}
        if validation_url:
            body["ValidationURL"] = validation_url
        status, parsed, _ = self._authorized_post(C2B_REGISTER_PATHS[version], body)
        envelope = _envelope(parsed)
        if envelope:
            logger.info("C2B register rejected code=%s shortcode=%s", envelope[0], shortcode)
            raise DarajaRejected(envelope[0], envelope[1], http_status=status, raw=parsed)
        if status != 200 or not isinstance(parsed, dict):
            raise DarajaUnavailable(f"Unexpected answer from Daraja (HTTP {status})", http_status=status)
        response_code = str(parsed.get("ResponseCode", ""))
        if response_code != "0":
            if response_code:
                raise DarajaRejected(response_code, str(parsed.get("ResponseDescription", "")), http_status=status, raw=parsed)
            raise DarajaUnavailable("Daraja's answer had no ResponseCode", http_status=status)
        return C2BRegistered(
            originator_conversation_id=str(parsed.get("OriginatorCoversationID") or parsed.get("OriginatorConversationID") or ""),
            response_description=str(parsed.get("ResponseDescription", "")),
            raw=parsed,
        )


def _check_amount(amount) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DarajaInvalidRequest("Amount", "must be a whole number of shillings")
    if not 1 <= amount <= settings.MPESA_MAX_AMOUNT:
        raise DarajaInvalidRequest("Amount", f"must be between 1 and {settings.MPESA_MAX_AMOUNT}")


def _check_shortcode(name: str, value) -> None:
    if not rules.SHORTCODE_RE.match(str(value)):
        raise DarajaInvalidRequest(name, "must be 5 to 7 digits")


def _check_urls(result_url: str, timeout_url: str) -> None:
    for name, url in (("ResultURL", result_url), ("QueueTimeOutURL", timeout_url)):
        problem = rules.callback_url_problem(url)
        if problem:
            raise DarajaInvalidRequest(name, problem)
