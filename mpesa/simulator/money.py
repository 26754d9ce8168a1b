"""Money out and C2B in the offline simulator: B2C v3, reversal, transaction status, account
balance, C2B register URL and simulate (with validation and confirmation).

Every initiator API checks its ``SecurityCredential`` for real: the simulator ships its own test
key pair (``certs/``); a client encrypts the initiator password with ``certs/simulator.cer`` (RSA,
PKCS#1 v1.5, base64), the simulator decrypts it and compares. A wrong credential, or an initiator
the shortcode does not have, is result ``2001`` — in the result, as Daraja reports it, not in the
acknowledgement. Results are POSTed to the caller's ResultURL (or QueueTimeOutURL) after
``SIMULATOR_CALLBACK_DELAY`` seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
import string
import threading
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from django.conf import settings
from django.core.cache import cache

from mpesa import rules
from mpesa.daraja import NAIROBI
from mpesa.simulator import registry
from mpesa.simulator.engine import (
    STATE_TTL,
    DarajaError,
    _amount,
    _count,
    _request_id,
    bad_request,
    record_transaction,
    transaction,
)

logger = logging.getLogger(__name__)

CERTS = Path(__file__).resolve().parent / "certs"
CERTIFICATE_PATH = CERTS / "simulator.cer"
ACCEPTED = "Accept the service request successfully."
SUCCESS_DESC = "The service request is processed successfully."
START_BALANCE = 1_000_000
B2C_COMMANDS = ("BusinessPayment", "SalaryPayment", "PromotionPayment")
QUEUE_TIMEOUT = (1037, "The service request timed out in the queue.")  # Daraja's own text is unverified

# B2C magic phones (PartyB) → what happens. "mode" is how the result is delivered.
B2C_MAGIC = {
    "254711000003": {"code": 1, "desc": "The balance is insufficient for the transaction."},
    "254711000004": {"code": 2001, "desc": "The initiator information is invalid."},
    "254711000016": {"code": 2040, "desc": "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service."},
    "254711000002": {"mode": "queue_timeout"},
    "254711000005": {"mode": "none"},
    "254711000006": {"mode": "duplicate"},
    "254711000017": {"mode": "single_parameter"},
    "254711000018": {"mode": "zero_padded"},
}


# --- SecurityCredential ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _private_key():
    return serialization.load_pem_private_key((CERTS / "simulator_private_key.pem").read_bytes(), password=None)


def security_credential(initiator_password: str, certificate_path: Path = CERTIFICATE_PATH) -> str:
    """What a client sends for the simulator: base64(RSA-PKCS#1 v1.5(password)) with its certificate."""
    cert = x509.load_pem_x509_certificate(Path(certificate_path).read_bytes())
    return base64.b64encode(cert.public_key().encrypt(initiator_password.encode(), PKCS1v15())).decode()


def _decrypt(credential) -> str | None:
    if not isinstance(credential, str):
        return None
    try:
        return _private_key().decrypt(base64.b64decode(credential, validate=True), PKCS1v15()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def initiator_valid(shortcode: str, initiator, credential) -> bool:
    password = registry.initiators(shortcode).get(initiator) if isinstance(initiator, str) else None
    return password is not None and _decrypt(credential) == password


# --- Shared request rules ----------------------------------------------------------------------


def _required(body, *fields) -> dict:
    if not isinstance(body, dict):
        raise DarajaError(400, "400.002.05", "Invalid Request Payload")
    for field in fields:
        value = body.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise bad_request(field)
    return body


def _url(body, field) -> str:
    url = body.get(field)
    if not isinstance(url, str) or rules.callback_url_problem(url):
        raise bad_request(field)
    return url


def _shortcode(body, field) -> str:
    value = body.get(field)
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not rules.SHORTCODE_RE.match(text):
        raise bad_request(field)
    return text


def _ids() -> tuple[str, str]:
    now = datetime.now(NAIROBI)
    return f"AG_{now.strftime('%Y%m%d')}_{secrets.token_hex(10)}", _request_id()


def _receipt() -> str:
    return secrets.choice("QRST") + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(9))


def _ack(conversation_id: str, originator_id: str) -> dict:
    return {"ConversationID": conversation_id, "OriginatorConversationID": originator_id, "ResponseCode": "0",
            "ResponseDescription": ACCEPTED}


def _result(originator_id, conversation_id, code, desc, transaction_id, parameters=None, reference=None) -> dict:
    result = {"ResultType": 0, "ResultCode": code, "ResultDesc": desc, "OriginatorConversationID": originator_id,
              "ConversationID": conversation_id, "TransactionID": transaction_id}
    if parameters is not None:
        result["ResultParameters"] = {"ResultParameter": [{"Key": k, "Value": v} if v is not None else {"Key": k} for k, v in parameters]}
    result["ReferenceData"] = {"ReferenceItem": reference or {"Key": "QueueTimeoutURL",
                                                             "Value": "https://internalsandbox.safaricom.co.ke/mpesa/results/v1/submit"}}
    return {"Result": result}


def _balance(shortcode: str) -> float:
    return cache.get(f"sim:balance:{shortcode}", START_BALANCE)


def _debit(shortcode: str, amount: int) -> float:
    balance = _balance(shortcode) - amount
    cache.set(f"sim:balance:{shortcode}", balance, STATE_TTL)
    return balance


def _now(fmt="%Y%m%d%H%M%S") -> str:
    return datetime.now(NAIROBI).strftime(fmt)


def post_result(url: str, body: dict, *, delay: float | None = None, times: int = 1) -> None:
    """POST a result to the caller after a delay, once (or ``times`` times), never retried."""
    delay = settings.SIMULATOR_CALLBACK_DELAY if delay is None else delay
    for n in range(times):
        timer = threading.Timer(delay + 0.3 * n, _deliver, args=(url, body))
        timer.daemon = True
        timer.start()


def _deliver(url: str, body) -> requests.Response | None:
    try:
        data = body if isinstance(body, str) else json.dumps(body)
        response = requests.post(url, data=data.encode(), headers={"Content-Type": "application/json"}, timeout=10)
        _count("results")
        return response
    except requests.RequestException as exc:
        logger.warning("Simulator could not deliver a result: %s", type(exc).__name__)
        return None


# --- B2C ---------------------------------------------------------------------------------------


def b2c(body, *, version: str = "v3") -> dict:
    fields = ["InitiatorName", "SecurityCredential", "CommandID", "Amount", "PartyA", "PartyB", "Remarks", "QueueTimeOutURL", "ResultURL"]
    if version == "v3":
        fields.insert(0, "OriginatorConversationID")
    _required(body, *fields)
    if body["CommandID"] not in B2C_COMMANDS:
        raise bad_request("CommandID")
    amount = _amount(body["Amount"])
    shortcode = _shortcode(body, "PartyA")
    phone = str(body["PartyB"]).strip()
    if not rules.PHONE_RE.match(phone):
        raise bad_request("PartyB")
    result_url, timeout_url = _url(body, "ResultURL"), _url(body, "QueueTimeOutURL")
    conversation_id, generated = _ids()
    originator_id = str(body.get("OriginatorConversationID") or generated)
    if not cache.add(f"sim:b2c:originator:{originator_id}", conversation_id, STATE_TTL):
        raise DarajaError(500, "500.002.1001", "Duplicate OriginatorConversationID.")

    magic = B2C_MAGIC.get(phone, {})
    mode = magic.get("mode", "normal")
    failed = f"{_receipt()[:3]}0000000"
    if not registry.initiators(shortcode):
        outcome = (2028, "The request is not permitted according to product assignment.")
    elif not initiator_valid(shortcode, body["InitiatorName"], body["SecurityCredential"]):
        outcome = (2001, "The initiator information is invalid.")
    elif "code" in magic:
        outcome = (magic["code"], magic["desc"])
    elif amount > _balance(shortcode):
        outcome = (1, "The balance is insufficient for the transaction.")
    else:
        outcome = (0, SUCCESS_DESC)

    if mode == "queue_timeout":
        post_result(timeout_url, _result(originator_id, conversation_id, *QUEUE_TIMEOUT, failed))
    elif outcome[0] != 0:
        if mode != "none":
            post_result(result_url, _result(originator_id, conversation_id, *outcome, failed), times=2 if mode == "duplicate" else 1)
    else:
        receipt = _receipt()
        utility = _debit(shortcode, amount)
        record_transaction(receipt, amount=amount, debit=f"{shortcode} - Safaricom Daraja {shortcode[-3:]}",
                           credit=f"{phone} - JOHN DOE", reason="Business Payment to Customer via API", at=_now())
        parameters = [
            ("TransactionAmount", amount), ("TransactionReceipt", receipt), ("ReceiverPartyPublicName", f"{phone} - JOHN DOE"),
            ("TransactionCompletedDateTime", _now("%d.%m.%Y %H:%M:%S")), ("B2CUtilityAccountAvailableFunds", utility),
            ("B2CWorkingAccountAvailableFunds", 0.0), ("B2CRecipientIsRegisteredCustomer", "Y"),
            ("B2CChargesPaidAccountAvailableFunds", -22.4),
        ]
        result = _result(originator_id, conversation_id, 0, SUCCESS_DESC, receipt, parameters)
        if mode == "single_parameter":
            # Some results carry one object where a list is documented.
            result["Result"]["ResultParameters"]["ResultParameter"] = result["Result"]["ResultParameters"]["ResultParameter"][0]
        if mode == "zero_padded":
            result["Result"]["ResultCode"] = "00000000"
        if mode != "none":
            post_result(result_url, result, times=2 if mode == "duplicate" else 1)
    _count("b2c")
    return _ack(conversation_id, originator_id)


# --- Reversal, transaction status, account balance ---------------------------------------------


def _initiator_checks(body, party_field) -> tuple[str, tuple[int, str] | None]:
    shortcode = _shortcode(body, party_field)
    if not registry.initiators(shortcode):
        return shortcode, (2028, "The request is not permitted according to product assignment.")
    if not initiator_valid(shortcode, body.get("Initiator"), body.get("SecurityCredential")):
        return shortcode, (2001, "The initiator information is invalid.")
    return shortcode, None


def reversal(body) -> dict:
    _required(body, "Initiator", "SecurityCredential", "CommandID", "TransactionID", "Amount", "ReceiverParty",
              "RecieverIdentifierType", "ResultURL", "QueueTimeOutURL", "Remarks")
    if body["CommandID"] != "TransactionReversal":
        raise bad_request("CommandID")
    amount = _amount(body["Amount"])
    result_url, _ = _url(body, "ResultURL"), _url(body, "QueueTimeOutURL")
    shortcode, problem = _initiator_checks(body, "ReceiverParty")
    conversation_id, originator_id = _ids()
    original = transaction(body["TransactionID"])
    failed = f"{_receipt()[:3]}0000000"
    if problem:
        result = _result(originator_id, conversation_id, *problem, failed)
    elif original is None:
        result = _result(originator_id, conversation_id, "R000002", "The OriginalTransactionID is invalid.", failed)
    elif original["reversed"]:
        result = _result(originator_id, conversation_id, "R000001", "The transaction has already been reversed.", failed)
    else:
        cache.set(f"sim:tx:{body['TransactionID']}", {**original, "reversed": True}, STATE_TTL)
        receipt = _receipt()
        parameters = [
            ("DebitAccountBalance", f"Utility Account|KES|{_balance(shortcode):.2f}|{_balance(shortcode):.2f}|0.00|0.00"),
            ("Amount", float(amount)), ("TransCompletedTime", int(_now())), ("OriginalTransactionID", body["TransactionID"]),
            ("Charge", 0.0), ("CreditPartyPublicName", original["debit"]), ("DebitPartyPublicName", f"{shortcode} - Safaricom Daraja"),
        ]
        result = _result(originator_id, conversation_id, 0, SUCCESS_DESC, receipt, parameters)
    post_result(result_url, result)
    _count("reversal")
    return _ack(conversation_id, originator_id)


def transaction_status(body) -> dict:
    # The official sample writes "Command ID" and "Transaction ID" with spaces; accept both.
    body = dict(body) if isinstance(body, dict) else body
    if isinstance(body, dict):
        for spaced, plain in (("Command ID", "CommandID"), ("Transaction ID", "TransactionID")):
            if plain not in body and spaced in body:
                body[plain] = body[spaced]
    _required(body, "Initiator", "SecurityCredential", "CommandID", "PartyA", "IdentifierType", "ResultURL", "QueueTimeOutURL", "Remarks")
    if body["CommandID"] != "TransactionStatusQuery":
        raise bad_request("CommandID")
    if not body.get("TransactionID") and not body.get("OriginalConversationID"):
        raise bad_request("TransactionID")
    result_url, _ = _url(body, "ResultURL"), _url(body, "QueueTimeOutURL")
    _, problem = _initiator_checks(body, "PartyA")
    conversation_id, originator_id = _ids()
    receipt = body.get("TransactionID") or ""
    found = transaction(receipt)
    failed = f"{_receipt()[:3]}0000000"
    if problem:
        result = _result(originator_id, conversation_id, *problem, failed)
    elif found is None:
        # Daraja's answer for an unknown receipt is unverified; the simulator uses the reversal's.
        result = _result(originator_id, conversation_id, "R000002", "The OriginalTransactionID is invalid.", failed)
    else:
        parameters = [
            ("DebitPartyName", found["debit"]), ("CreditPartyName", found["credit"]), ("OriginatorConversationID", originator_id),
            ("InitiatedTime", found["at"]), ("DebitAccountType", "Utility Account"), ("DebitPartyCharges", None),
            ("TransactionReason", None), ("ReasonType", found["reason"]),
            ("TransactionStatus", "Reversed" if found["reversed"] else "Completed"), ("FinalisedTime", found["at"]),
            ("Amount", str(found["amount"])), ("ConversationID", conversation_id), ("ReceiptNo", receipt),
        ]
        result = _result(originator_id, conversation_id, 0, SUCCESS_DESC, receipt, parameters,
                         reference={"Key": "Occasion", "Value": body.get("Occasion") or ""})
    post_result(result_url, result)
    _count("transaction_status")
    return _ack(conversation_id, originator_id)


def account_balance(body) -> dict:
    _required(body, "Initiator", "SecurityCredential", "CommandID", "PartyA", "IdentifierType", "ResultURL", "QueueTimeOutURL", "Remarks")
    if body["CommandID"] != "AccountBalance":
        raise bad_request("CommandID")
    result_url, _ = _url(body, "ResultURL"), _url(body, "QueueTimeOutURL")
    shortcode, problem = _initiator_checks(body, "PartyA")
    conversation_id, originator_id = _ids()
    if problem:
        result = _result(originator_id, conversation_id, *problem, f"{_receipt()[:3]}0000000")
    else:
        utility = _balance(shortcode)
        accounts = "&".join([
            "Working Account|KES|0.00|0.00|0.00|0.00", "Float Account|KES|0.00|0.00|0.00|0.00",
            f"Utility Account|KES|{utility:.2f}|{utility:.2f}|0.00|0.00", "Charges Paid Account|KES|-22.40|-22.40|0.00|0.00",
            "Organization Settlement Account|KES|0.00|0.00|0.00|0.00",
        ])
        result = _result(originator_id, conversation_id, 0, SUCCESS_DESC, f"{_receipt()[:3]}0000000",
                         [("AccountBalance", accounts), ("BOCompletedTime", int(_now()))])
        # Account balance results carry ResultType and ResultCode as strings (official sample).
        result["Result"]["ResultType"], result["Result"]["ResultCode"] = "0", "0"
    post_result(result_url, result)
    _count("account_balance")
    return _ack(conversation_id, originator_id)


# --- C2B ---------------------------------------------------------------------------------------

C2B_VALIDATION_TIMEOUT = 8.0

# C2B magic amounts (whole KES) → what happens after the acknowledgement. The amount is the one
# thing a customer always types in the phone menu, and any invoice can be made for these amounts.
C2B_MAGIC = {
    4003: "rejected",  # the validation request is posted, then treated as rejected whatever it answered
    4006: "duplicate",  # the confirmation is posted twice, same TransID
}


def c2b_register(body, *, version: str = "v2") -> dict:
    _required(body, "ShortCode", "ResponseType", "ConfirmationURL")
    shortcode = _shortcode(body, "ShortCode")
    if not registry.c2b_shortcode_exists(shortcode):
        raise bad_request("ShortCode")
    if body["ResponseType"] not in ("Completed", "Cancelled"):
        raise bad_request("ResponseType")
    confirmation = _url(body, "ConfirmationURL")
    validation = _url(body, "ValidationURL") if body.get("ValidationURL") else ""
    cache.set(f"sim:c2b:{shortcode}", {"confirmation": confirmation, "validation": validation,
                                       "response_type": body["ResponseType"], "version": version}, STATE_TTL)
    # The key is misspelled in real answers, and the sandbox writes "success" in lower case.
    return {"OriginatorCoversationID": _request_id(), "ResponseCode": "0", "ResponseDescription": "success"}


def _masked(msisdn: str, version: str) -> str:
    if version == "v1":
        return hashlib.sha256(msisdn.encode()).hexdigest()
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def c2b_simulate(body, *, version: str = "v2") -> dict:
    _required(body, "ShortCode", "CommandID", "Amount", "Msisdn")
    shortcode = _shortcode(body, "ShortCode")
    if not registry.c2b_shortcode_exists(shortcode):
        raise bad_request("ShortCode")
    if body["CommandID"] not in (rules.PAYBILL, rules.BUY_GOODS):
        raise bad_request("CommandID")
    amount = _amount(body["Amount"])
    msisdn = str(body["Msisdn"]).strip()
    if not rules.PHONE_RE.match(msisdn):
        raise bad_request("Msisdn")
    registered = cache.get(f"sim:c2b:{shortcode}")
    if registered:
        receipt = _receipt()
        payment = {
            "TransactionType": "Pay Bill" if body["CommandID"] == rules.PAYBILL else "Buy Goods",
            "TransID": receipt, "TransTime": _now(), "TransAmount": f"{amount}.00", "BusinessShortCode": shortcode,
            "BillRefNumber": str(body.get("BillRefNumber") or ""), "InvoiceNumber": "", "OrgAccountBalance": "",
            "ThirdPartyTransID": "", "MSISDN": _masked(msisdn, registered["version"]), "FirstName": "JOHN", "MiddleName": "",
            "LastName": "DOE",
        }
        mode = C2B_MAGIC.get(amount, "normal")
        timer = threading.Timer(settings.SIMULATOR_CALLBACK_DELAY, _c2b_deliver, args=(registered, payment, amount, msisdn, mode))
        timer.daemon = True
        timer.start()
    # Without registered URLs the sandbox accepts the simulation and nothing arrives.
    _count("c2b_simulate")
    return {"OriginatorCoversationID": _request_id(), "ResponseCode": "0", "ResponseDescription": ACCEPTED}


def _c2b_deliver(registered: dict, payment: dict, amount: int, msisdn: str, mode: str = "normal") -> str:
    """Validation (when registered) decides; then the confirmation. Returns what happened.

    ``mode`` comes from C2B_MAGIC: "rejected" posts the validation (when registered) and then stops
    whatever it answered; "duplicate" posts the same confirmation twice."""
    if registered["validation"]:
        try:
            answer = requests.post(registered["validation"], json=payment, timeout=C2B_VALIDATION_TIMEOUT).json()
            accepted = str(answer.get("ResultCode")) == "0"
        except (requests.RequestException, ValueError, AttributeError):
            # No usable answer in time: ResponseType decides (REFERENCE.md section 7).
            accepted = registered["response_type"] == "Completed"
        if not accepted:
            return "rejected"
    if mode == "rejected":
        return "rejected"
    record_transaction(payment["TransID"], amount=amount, debit=f"{msisdn} - JOHN DOE", credit=payment["BusinessShortCode"],
                       reason="Customer Payment via C2B", at=payment["TransTime"])
    _deliver(registered["confirmation"], payment)
    if mode == "duplicate":
        _deliver(registered["confirmation"], payment)
        return "confirmed twice"
    return "confirmed"
