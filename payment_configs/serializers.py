from rest_framework import serializers

from accounts.serializers import PhoneField
from payment_configs.models import PaymentConfig

DIGITS_MESSAGE = "Must be 5 to 7 digits."
REFERENCE_MESSAGE = "Must be 1 to 12 letters and digits."
TILL_EQUALS_STORE_MESSAGE = (
    "The till number is the same as the store number (shortcode). A till's store number (head office) "
    "differs from its till number: find both on the till's M-Pesa registration."
)


def _shortcode_field(**kwargs):
    return serializers.RegexField(r"^[0-9]{5,7}$", max_length=7, error_messages={"invalid": DIGITS_MESSAGE}, **kwargs)


SECRET_RE = r"^[!-~]{1,255}$"
SECRET_MESSAGE = "Printable ASCII without spaces, as Safaricom issues it."


def _secret_field(**kwargs):
    # Safaricom's passkeys and consumer keys are ASCII; anything else cannot even be sent in a
    # Basic-auth header, so it is refused here rather than failing at Daraja time.
    return serializers.RegexField(SECRET_RE, max_length=255, write_only=True, error_messages={"invalid": SECRET_MESSAGE}, **kwargs)


class PaymentConfigInput(serializers.Serializer):
    method = serializers.ChoiceField(choices=PaymentConfig.Method.choices)
    shortcode = _shortcode_field(help_text="Paybill number, or the till's store number (used for the Password).")
    till_number = _shortcode_field(
        required=False, allow_blank=True,
        help_text="Required for a till (PartyB), and different from its store number; omit for a paybill.",
    )
    passkey = _secret_field()
    account_reference = serializers.RegexField(
        r"^[A-Za-z0-9]{1,12}$", max_length=12, error_messages={"invalid": REFERENCE_MESSAGE}
    )
    account_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    consumer_key = _secret_field(required=False, allow_blank=True)
    consumer_secret = _secret_field(required=False, allow_blank=True)

    def validate(self, attrs):
        return validate_method_rules(attrs)


class PaymentConfigPatch(PaymentConfigInput):
    """Every field optional; a blank passkey or consumer secret keeps the stored value."""

    def __init__(self, *args, current: PaymentConfig, **kwargs):
        self.current = current
        super().__init__(*args, partial=True, **kwargs)
        self.fields["passkey"].allow_blank = True

    def validate(self, attrs):
        merged = {
            "method": attrs.get("method", self.current.method),
            "shortcode": attrs.get("shortcode", self.current.shortcode),
            "till_number": attrs.get("till_number", self.current.till_number),
            "consumer_key": attrs.get("consumer_key") or ("set" if self.current.consumer_key else ""),
            "consumer_secret": attrs.get("consumer_secret") or ("set" if self.current.consumer_secret else ""),
        }
        if "method" in attrs and attrs["method"] == PaymentConfig.Method.PAYBILL and "till_number" not in attrs:
            merged["till_number"] = ""
            attrs["till_number"] = ""
        validate_method_rules(merged)
        return attrs


def validate_method_rules(attrs):
    method = attrs.get("method")
    till = attrs.get("till_number") or ""
    if method == PaymentConfig.Method.TILL and not till:
        raise serializers.ValidationError({"till_number": ["A till needs its till number (PartyB)."]})
    if method == PaymentConfig.Method.TILL and till == attrs.get("shortcode"):
        # Safaricom answers SFC_IC0003 "The operator does not exist" to every push on such a
        # config (REFERENCE.md 3): refused at setup rather than discovered at the first sale.
        raise serializers.ValidationError({"till_number": [TILL_EQUALS_STORE_MESSAGE]})
    if method == PaymentConfig.Method.PAYBILL and till:
        raise serializers.ValidationError({"till_number": ["A paybill has no till number; leave it out."]})
    if bool(attrs.get("consumer_key")) != bool(attrs.get("consumer_secret")):
        missing = "consumer_secret" if attrs.get("consumer_key") else "consumer_key"
        raise serializers.ValidationError({missing: ["Give both the consumer key and the consumer secret, or neither."]})
    return attrs


class PaymentConfigOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    method = serializers.ChoiceField(choices=PaymentConfig.Method.choices)
    shortcode = serializers.CharField()
    till_number = serializers.CharField(allow_null=True)
    transaction_type = serializers.CharField()
    account_reference = serializers.CharField()
    account_name = serializers.CharField()
    passkey_set = serializers.SerializerMethodField()
    uses_own_daraja_app = serializers.BooleanField()
    verified = serializers.BooleanField(
        help_text=(
            "A KES 1 verification went through. A later re-verification that fails keeps it true unless the failure "
            "shows the details are wrong (mixed-up till/store numbers, wrong passkey or Daraja app, a request "
            "Safaricom calls invalid); a wrong PIN, a cancel or no answer does not. Changing the numbers or secrets "
            "resets it."
        )
    )
    verified_at = serializers.DateTimeField(allow_null=True)
    verification_status = serializers.ChoiceField(choices=PaymentConfig.Verification.choices)
    verification_message = serializers.CharField(
        help_text="The last verification's outcome in plain words, a failed re-verification of a verified config included."
    )
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_passkey_set(self, obj) -> bool:
        return bool(obj.passkey)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["till_number"] = data["till_number"] or None
        return data


class VerifyInput(serializers.Serializer):
    phone = PhoneField(required=False, help_text="Defaults to the business owner's phone.")


class VerifyOut(serializers.Serializer):
    status = serializers.CharField()
    phone = serializers.CharField()
    amount = serializers.IntegerField()
    customer_message = serializers.CharField()
    config = PaymentConfigOut()


class C2BRegisterInput(serializers.Serializer):
    version = serializers.ChoiceField(
        choices=["v1", "v2"], required=False,
        help_text="The C2B API product of the Daraja app (v1 sends the payer's number hashed, v2 masked). Default v2.",
    )
    response_type = serializers.ChoiceField(
        choices=["Completed", "Cancelled"], required=False,
        help_text="What M-Pesa does when validation does not answer in time. Default Completed.",
    )
    validation = serializers.BooleanField(
        required=False, help_text="Register a validation URL too (only if Safaricom enabled validation for the shortcode)."
    )
    accept_unknown_accounts = serializers.BooleanField(
        required=False, help_text="Validation accepts an account number that is no unpaid invoice (false: rejects with C2B00012)."
    )


class C2BRegistrationOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["not_registered", "queued", "sending", "registered", "failed"])
    message = serializers.CharField(help_text="The outcome in plain words.")
    daraja_error_code = serializers.CharField(help_text="Daraja's errorCode when it refused (e.g. `500.003.1001`, `401.003.01`).")
    shortcode = serializers.CharField()
    version = serializers.CharField()
    response_type = serializers.CharField()
    validation = serializers.BooleanField(source="validation_enabled")
    accept_unknown_accounts = serializers.BooleanField()
    registered_at = serializers.DateTimeField(allow_null=True)
