"""Every error ``code`` a client of the API can receive, with its HTTP status and meaning.

The OpenAPI schema lists these (per status on every operation, and in full in its description);
the README's table says the same; tests/payme/test_error_codes.py fails when a code raised in the
code is missing here, from the README or from the schema.
"""

ERROR_CODES: dict[str, tuple[int, str]] = {
    # 400: bad input; `fields` names what is wrong. Nothing was written.
    "invalid": (400, "A field is not valid; `fields` names each one (also a bad `?cursor=` or `?page=`)."),
    "malformed_json": (400, "The body is not JSON, or nests more than 32 levels deep."),
    "invalid_phone": (400, "Not a Kenyan mobile number M-Pesa can prompt."),
    "amount_out_of_range": (400, "The amount (or a cart's total) is not 1 to 250,000 KES after rounding."),
    "email_taken": (400, "An account with this email exists."),
    "unknown_product": (400, "A cart line names no product of this business."),
    "product_inactive": (400, "A cart line names a deactivated product."),
    "sku_taken": (400, "Another product of the business has this SKU (letter case does not count)."),
    "invalid_idempotency_key": (400, "The Idempotency-Key header is empty or longer than 255 characters."),
    "webhook_url_not_allowed": (400, "A webhook URL that is not https (outside DEBUG), points at a private, loopback or link-local address, does not resolve, or carries credentials."),
    "unknown_event_type": (400, "A webhook endpoint subscribes to an event type PayMe does not send."),
    "webhook_endpoint_disabled": (400, "Replay to a disabled or deleted webhook endpoint: enable it first."),
    # 401: who is calling is not known.
    "not_authenticated": (401, "No `Authorization: Bearer` header."),
    "token_invalid": (401, "The access or refresh token is expired, revoked or forged: refresh it, or sign in again."),
    "invalid_credentials": (401, "Wrong email or password."),
    # 402
    "insufficient_tokens": (402, "The wallet has too few tokens."),
    # 403
    "permission_denied": (403, "The role may not do this (cashiers take sales; owners do the rest)."),
    "approval_not_allowed": (403, "A payout above the threshold needs a second owner (or a platform superuser), not the one who asked."),
    # 404
    "not_found": (404, "No such object here (another business's objects are 404 too; so is another `businessId`)."),
    "payment_config_missing": (404, "Reading or changing a config when none is active (409 when starting a payment)."),
    # 405, 406, 415
    "method_not_allowed": (405, "This path does not take this method."),
    "not_acceptable": (406, "The `Accept` header asks for something other than JSON."),
    "unsupported_media_type": (415, "The body is not `application/json`."),
    # 409: the request conflicts with the state of things.
    "insufficient_stock": (409, "Not enough of a product; names the product and what is left."),
    "payment_config_unverified": (409, "SALES_REQUIRE_VERIFIED_CONFIG is on and the config is not verified."),
    "prompt_in_progress": (409, "The phone has a live prompt younger than MPESA_PROMPT_LOCK_SECONDS (90 s)."),
    "paybill_required": (409, "Invoices need a paybill (a till has no account number for the customer to type)."),
    "c2b_payment_not_unmatched": (409, "`…/match`: this C2B payment is already matched, left, or in review."),
    "sale_not_open": (409, "`…/match`: the sale is not an unpaid invoice."),
    "amount_mismatch": (409, "`…/match`: the payment's amount differs from the invoice's."),
    "payout_config_missing": (409, "Money out needs a payout config first (`setup_url`); 404 when reading or changing one that is not there."),
    "payout_not_awaiting_approval": (409, "Approve or reject: this payout is not waiting for approval."),
    "sale_not_refundable": (409, "Only a paid sale can be refunded."),
    # 413, 422, 429
    "request_too_large": (413, "The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (1 MB); `max_bytes` says the limit."),
    "idempotency_key_reused": (422, "This Idempotency-Key was used with a different body."),
    "payout_limit_exceeded": (422, "The amount is above the payout config's `max_per_payout`; field `amount`."),
    "daily_limit_exceeded": (422, "The amount would pass the payout config's `daily_max` for today; field `amount`."),
    "refund_exceeds_paid": (422, "More than is left to refund on the sale; field `amount` says how much is left."),
    "throttled": (429, "Too many requests; wait `Retry-After` seconds."),
    # 5xx. Daraja's refusals and silences are no longer answers (the worker tier): they show on the
    # payment's record (`status`, `reason`, `daraja_error_code`).
    "internal_error": (500, "Our bug; it is logged. Nothing is half-written."),
}

# Codes that only exist on one status but are shared by two (payment_config_missing is 409 when a
# payment starts without a config).
ALSO = {"payment_config_missing": (409,), "payout_config_missing": (404,)}


def codes_for_status(status: int) -> list[str]:
    return [code for code, (main, _) in ERROR_CODES.items() if main == status or status in ALSO.get(code, ())]


def markdown_table() -> str:
    rows = [f"| `{code}` | {status} | {meaning} |" for code, (status, meaning) in ERROR_CODES.items()]
    return "\n".join(["| code | status | meaning |", "|---|---|---|", *rows])
