from rest_framework import serializers

from accounts.serializers import PhoneField
from mpesa.daraja import initiator_password_problem
from payme.fields import AmountField
from payouts.models import Payout, PayoutConfig

SECRET_RE = r"^[!-~]{1,255}$"
SECRET_MESSAGE = "Printable ASCII without spaces, as Safaricom issues it."


def _shortcode_field(**kwargs):
    return serializers.RegexField(r"^[0-9]{5,7}$", max_length=7, error_messages={"invalid": "Must be 5 to 7 digits."}, **kwargs)


def _secret_field(**kwargs):
    return serializers.RegexField(SECRET_RE, max_length=255, write_only=True, error_messages={"invalid": SECRET_MESSAGE}, **kwargs)


class InitiatorPasswordField(serializers.CharField):
    """Write-only. ``(`` ``)`` ``@`` ``.`` break Daraja's SecurityCredential: refused here
    (the message names the characters, never the value)."""

    def __init__(self, **kwargs):
        super().__init__(write_only=True, max_length=128, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == "" and self.allow_blank:
            return value
        problem = initiator_password_problem(value)
        if problem:
            raise serializers.ValidationError(f"The initiator password {problem}.")
        return value


class PayoutConfigInput(serializers.Serializer):
    shortcode = _shortcode_field(help_text="The B2C (or one-account) shortcode money leaves from.")
    initiator_name = serializers.RegexField(r"^[!-~]{1,64}$", max_length=64, help_text="The API operator's username.")
    initiator_password = InitiatorPasswordField(help_text="The API operator's password. Write-only; `( ) @ .` are refused.")
    consumer_key = _secret_field(required=False, allow_blank=True)
    consumer_secret = _secret_field(required=False, allow_blank=True)
    max_per_payout = serializers.IntegerField(required=False, min_value=1, max_value=250_000)
    daily_max = serializers.IntegerField(required=False, min_value=1, max_value=100_000_000)
    approval_threshold = serializers.IntegerField(required=False, min_value=0, max_value=100_000_000)

    def validate(self, attrs):
        if bool(attrs.get("consumer_key")) != bool(attrs.get("consumer_secret")):
            missing = "consumer_secret" if attrs.get("consumer_key") else "consumer_key"
            raise serializers.ValidationError({missing: ["Give both the consumer key and the consumer secret, or neither."]})
        return attrs


class PayoutConfigPatch(PayoutConfigInput):
    """Every field optional; a blank initiator password or consumer secret keeps the stored one."""

    def __init__(self, *args, current: PayoutConfig, **kwargs):
        self.current = current
        super().__init__(*args, partial=True, **kwargs)
        self.fields["initiator_password"].allow_blank = True

    def validate(self, attrs):
        key = attrs.get("consumer_key") or ("set" if self.current.consumer_key else "")
        secret = attrs.get("consumer_secret") or ("set" if self.current.consumer_secret else "")
        if bool(key) != bool(secret):
            missing = "consumer_secret" if key else "consumer_key"
            raise serializers.ValidationError({missing: ["Give both the consumer key and the consumer secret, or neither."]})
        return attrs


class PayoutConfigOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    shortcode = serializers.CharField()
    initiator_name = serializers.CharField()
    initiator_password_set = serializers.SerializerMethodField()
    uses_own_daraja_app = serializers.BooleanField()
    max_per_payout = serializers.IntegerField()
    daily_max = serializers.IntegerField()
    approval_threshold = serializers.IntegerField()
    balance = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True,
                                       help_text="The B2C utility account at `balance_at` (ask with POST /api/payout-config/balance).")
    balance_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_initiator_password_set(self, obj) -> bool:
        return bool(obj.initiator_password)


class PayoutInput(serializers.Serializer):
    phone = PhoneField(help_text="The M-Pesa number to pay (2547…/2541…, or 07…/01…).")
    amount = AmountField(help_text="KES; decimals round half-up.")
    remarks = serializers.CharField(min_length=2, max_length=100, help_text="2 to 100 characters (Daraja's Remarks).")
    command = serializers.ChoiceField(choices=Payout.Command.choices, required=False, default=Payout.Command.BUSINESS_PAYMENT)


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255)


class RefundInput(serializers.Serializer):
    amount = AmountField(required=False, help_text="KES; omit to refund everything left (by Reversal of the receipt).")
    restock = serializers.BooleanField(required=False, default=False, help_text="Return the cart's stock when it succeeds.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=100)


class PayoutOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.ChoiceField(choices=Payout.Kind.choices)
    method = serializers.ChoiceField(choices=Payout.Method.choices)
    sale_id = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Payout.Status.choices)
    phone = serializers.CharField()
    amount = serializers.IntegerField()
    command = serializers.CharField(source="command_id")
    remarks = serializers.CharField()
    restock = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why it failed, was rejected or needs review, in plain words.")
    receipt = serializers.CharField()
    recipient_name = serializers.CharField()
    approval_required = serializers.SerializerMethodField()
    approved_at = serializers.DateTimeField(allow_null=True)
    rejected_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_sale_id(self, obj) -> str | None:
        return str(obj.sale.public_id) if obj.sale_id else None

    def get_approval_required(self, obj) -> bool:
        return obj.status == Payout.Status.AWAITING_APPROVAL or obj.approved_at is not None


class PayoutListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Payout.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Payout.Kind.choices, required=False)
