"""Kenyan MSISDNs in the one form Daraja accepts: 12 digits, 2547XXXXXXXX or 2541XXXXXXXX.

We validate the *format* only: with number portability a prefix does not prove the network,
so M-Pesa itself rejects numbers that are not on it (REFERENCE.md section 9).
"""

import re

_SEPARATORS = re.compile(r"[\s\-().]")
_VALID = re.compile(r"^254[17][0-9]{8}$")


class InvalidPhone(ValueError):
    """The value is not a Kenyan mobile number in any accepted form."""


def normalize_phone(value) -> str:
    """``07XX…``, ``01XX…``, ``7XX…``, ``1XX…``, ``2547…``, ``2541…``, ``+254…`` (spaces, dashes
    allowed) → ``2547XXXXXXXX`` / ``2541XXXXXXXX``. Raises InvalidPhone otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidPhone("Enter a Kenyan mobile number such as 0712345678.")
    text = _SEPARATORS.sub("", str(value))
    if text.startswith("+"):
        text = text[1:]
        if not text.startswith("254"):
            raise InvalidPhone("Only Kenyan (+254) numbers can pay by M-Pesa.")
    if not text.isdigit() or not text.isascii():
        raise InvalidPhone("Enter a Kenyan mobile number such as 0712345678.")
    if len(text) == 10 and text[0] == "0":
        text = "254" + text[1:]
    elif len(text) == 9 and text[0] in "17":
        text = "254" + text
    if not _VALID.match(text):
        raise InvalidPhone("Enter a Kenyan mobile number such as 0712345678 (07… or 01…).")
    return text


def mask_phone(phone: str) -> str:
    """2547****4149 — for logs, where a full number is more than we need."""
    return phone[:4] + "****" + phone[-4:] if len(phone) >= 8 else "****"
