"""Daraja's field rules, shared by the client (validate before sending) and the simulator
(reject like Daraja does)."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FORBIDDEN_CALLBACK_WORDS = ("mpesa", "m-pesa", "safaricom", "query", "sql", "exe", "cmd")
ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13
SHORTCODE_RE = re.compile(r"^[0-9]{5,7}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{14}$")
PHONE_RE = re.compile(r"^254[17][0-9]{8}$")
WHITESPACE_RE = re.compile(r"\s")
PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"


def forbidden_callback_words(url: str) -> list[str]:
    lowered = url.lower()
    return [w for w in FORBIDDEN_CALLBACK_WORDS if w in lowered]


def callback_url_problem(url: str) -> str | None:
    if not isinstance(url, str) or not url:
        return "is missing"
    if WHITESPACE_RE.search(url):
        return "contains whitespace"
    if not re.match(r"^https?://[^/\s]+", url):
        return "is not an http(s) URL"
    bad = forbidden_callback_words(url)
    if bad:
        return f"contains a word Safaricom forbids ({', '.join(bad)})"
    return None


def round_amount(value) -> int:
    """Whole shillings, rounded half-up (1140.8333 → 1141). Raises ValueError on non-numbers."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("not a number") from None
    if not amount.is_finite() or abs(amount) > Decimal(10) ** 12:
        raise ValueError("out of range")
    return int(amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))
