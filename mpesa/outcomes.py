"""Daraja result codes → our statuses and reasons an owner or cashier understands.

Branch on codes, never on ResultDesc text (it carries prefixes and typos) — except for
``500.001.1001``, where Safaricom puts several different errors behind one code and the message is
the only thing that tells them apart (REFERENCE.md 3.5).
"""

SUCCESS = "0"
CANCELLED_CODES = {"1032", "1031"}
EXPIRED_CODES = {"1037", "1036", "1019"}
OPERATOR_DOES_NOT_EXIST = "SFC_IC0003"
# SFC_IC0003 has two meanings (REFERENCE.md 4.1 and 6): mpesa.selectors.stk_push_reason picks one.
OPERATOR_REASON_NUMBERS = (
    "The till number and store number do not go together: a till's number must differ from its store "
    "number (Safaricom: the operator does not exist)."
)
OPERATOR_REASON_PHONE = "This phone number is not an M-Pesa account (Safaricom: the operator does not exist)."
OPERATOR_REASON_EITHER = (
    "Safaricom says the operator does not exist: either this phone number is not an M-Pesa account, or the "
    "till number and store number do not go together."
)
# Our own codes for outcomes Daraja did not name.
EXPIRED_BY_US = "expired"
INVALID_REQUEST = "invalid_request"
NOT_SENT = "not_sent"

_REASONS = {
    "0": "Paid.",
    "1": "The customer's M-Pesa balance was not enough for this payment.",
    "2": "The amount is below the M-Pesa minimum.",
    "3": "The amount is above the M-Pesa maximum for one transaction.",
    "4": "The customer has reached their daily M-Pesa limit.",
    "8": "The receiving account would exceed its maximum balance.",
    "17": "M-Pesa blocked a repeat of the same amount to this customer within 2 minutes. Wait, then try again.",
    "26": "M-Pesa is busy right now. Try again in a few minutes.",
    "1001": "The customer already has an M-Pesa session open. Try again in a minute.",
    "1019": "The M-Pesa prompt expired before the customer answered it.",
    "1025": "M-Pesa could not send the prompt (the account reference or description may be too long).",
    "9999": "M-Pesa could not send the prompt. Try again later.",
    "1031": "The customer cancelled the M-Pesa prompt.",
    "1032": "The customer cancelled the M-Pesa prompt.",
    "1036": "The M-Pesa prompt could not reach the customer's phone in time.",
    "1037": "The customer did not answer the M-Pesa prompt in time (phone off or prompt ignored).",
    "2001": "The customer entered a wrong M-Pesa PIN.",
    "2028": "Safaricom does not allow this kind of payment on this number: a paybill set up as a till, or a till as a paybill.",
    OPERATOR_DOES_NOT_EXIST: OPERATOR_REASON_EITHER,
    "8006": "The customer's M-Pesa PIN is locked; they should call Safaricom on 100.",
    EXPIRED_BY_US: "The prompt expired without an answer from M-Pesa or the customer.",
    NOT_SENT: "PayMe could not send the prompt in time, so the customer was never asked to pay. Try again.",
    "oauth_failed": "Safaricom refused the Daraja consumer key and secret.",
    "400.002.02": "Safaricom refused the request as invalid.",
    "500.003.02": "Safaricom is limiting requests right now. Try again shortly.",
    "500.003.03": "The Daraja request quota is used up. Try again later.",
    "500.003.1001": "Safaricom had an internal error. Try again later.",
}


def status_for(result_code: str) -> str:
    """The StkPush status a final result code leads to."""
    if result_code == SUCCESS:
        return "succeeded"
    if result_code in CANCELLED_CODES:
        return "cancelled"
    if result_code in EXPIRED_CODES or result_code in (EXPIRED_BY_US, NOT_SENT):
        return "expired"
    return "failed"


def reason_for(result_code: str, result_desc: str = "") -> str:
    """Plain words for a result or error code. Never includes secrets: only Daraja's own text."""
    code = str(result_code or "")
    desc = str(result_desc or "")
    if code == "500.001.1001":
        lowered = desc.lower()
        if "wrong credentials" in lowered:
            return "The passkey does not match this shortcode."
        if "merchant does not exist" in lowered:
            return "Safaricom does not know this shortcode (it may not be live yet)."
        if "lock subscriber" in lowered:
            return "The customer already has an M-Pesa prompt open. Try again in a minute."
        return f"Safaricom refused the request: {desc}".strip()
    if code == "400.002.02" and desc:
        return f"Safaricom refused the request: {desc.replace('Bad Request - ', '')}."
    if code == INVALID_REQUEST:
        return f"The payment request was not valid: {desc}".strip()
    if code in _REASONS:
        return _REASONS[code]
    return f"M-Pesa did not complete the payment (code {code})."


def is_subscriber_locked(error_code: str, error_message: str) -> bool:
    return error_code == "500.001.1001" and "lock subscriber" in (error_message or "").lower()


# --- Result-URL commands (B2C, reversal, status, balance): REFERENCE.md sections 6 and 7 -------

QUEUE_TIMEOUT = "queue_timeout"

_COMMAND_REASONS = {
    "0": "Completed.",
    "1": "The B2C account does not hold enough money for this payment. Top up the utility account.",
    "2": "The amount is below the M-Pesa minimum for a payment.",
    "3": "The amount is above the M-Pesa maximum for one payment.",
    "4": "The recipient would exceed their daily M-Pesa limit.",
    "5": "The payment would take the account below its minimum balance.",
    "6": "M-Pesa could not resolve the paying account.",
    "7": "M-Pesa could not resolve the receiving party.",
    "8": "The recipient's M-Pesa account would exceed its maximum balance.",
    "11": "The paying account is not active.",
    "12": "The account details are invalid.",
    "13": "The account details are invalid.",
    "14": "The account details are invalid.",
    "15": "M-Pesa detected a duplicate of this payment.",
    "17": "M-Pesa had an internal failure. Nothing was paid; try again later.",
    "20": "M-Pesa does not know this initiator.",
    "21": "The initiator does not have the role this needs on the M-Pesa portal (B2C, reversal or status).",
    "26": "M-Pesa is busy right now. Try again in a few minutes.",
    "2001": (
        "Safaricom says the initiator password is wrong or has expired (API initiator passwords expire "
        "after 90 days). Reset it on the M-Pesa portal and update the payout config."
    ),
    "2006": "The account's status does not allow this transaction.",
    "2028": "This shortcode has no permission for this (ask Safaricom to enable B2C or reversals on it).",
    "2040": "The recipient is not a registered M-Pesa customer.",
    "8006": "The initiator's security credential is locked. Unlock it on the M-Pesa portal.",
    "SFC_IC0003": "The phone number is not valid or not on M-Pesa.",
    "R000001": "This M-Pesa payment was already reversed.",
    "R000002": "M-Pesa does not know the original transaction (the receipt is invalid).",
    QUEUE_TIMEOUT: "M-Pesa timed out the request in its queue; PayMe is checking whether it went through.",
    "500.002.1001": "M-Pesa already has this request; PayMe is checking its outcome (it is never sent twice).",
    "oauth_failed": "Safaricom refused the Daraja consumer key and secret.",
    "500.003.02": "Safaricom is limiting requests right now. Nothing was sent; try again shortly.",
    "500.003.03": "The Daraja request quota is used up. Nothing was sent; try again later.",
}


def normalise_result_code(value) -> str:
    """ResultCode may be an int, a float, a string, or zero-padded ("00000000") — REFERENCE.md 15.
    Numeric codes become their plain decimal text; others ("R000002", "SFC_IC0003") are kept."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return str(int(text))
    return text[:32]


def command_reason_for(result_code: str, result_desc: str = "") -> str:
    """Plain words for a B2C / reversal / status / balance result or refusal. Never a secret."""
    code = str(result_code or "")
    if code in _COMMAND_REASONS:
        return _COMMAND_REASONS[code]
    if code == INVALID_REQUEST:
        return f"The request was not valid: {result_desc}".strip()
    if code and not code[0].isdigit() and "." not in code:
        return f"M-Pesa did not complete it: {result_desc}".strip() if result_desc else f"M-Pesa did not complete it (code {code})."
    return f"M-Pesa did not complete it (code {code}){': ' + result_desc if result_desc else '.'}"
