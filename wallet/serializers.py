from rest_framework import serializers

from accounts.serializers import PhoneField
from mpesa.selectors import payment_customer_message
from payme.fields import AmountField
from payme.serializers import FieldsOnceSerializer
from wallet.models import TokenPurchase, WalletEntry


class PurchaseInput(FieldsOnceSerializer):
    phone = PhoneField(help_text="The M-Pesa number that pays; it gets the prompt.")
    amount = AmountField(help_text="KES, whole shillings (decimals are rounded half-up).")


class PurchaseOut(FieldsOnceSerializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=TokenPurchase.Status.choices)
    amount = serializers.IntegerField()
    tokens = serializers.IntegerField()
    phone = serializers.CharField()
    reason = serializers.CharField(help_text="Why it did not succeed, in plain words; empty otherwise.")
    mpesa_receipt = serializers.CharField(help_text="Empty while `receipt_pending`, and until paid.")
    receipt_pending = serializers.SerializerMethodField(
        help_text=(
            "True when the purchase succeeded (tokens credited) but the receipt number is not known yet: an STK "
            "query confirmed it, which does not return the receipt; Safaricom's callback fills it in."
        )
    )
    customer_message = serializers.SerializerMethodField(
        help_text="While pending, what the prompt is doing (\"Sending…\", then \"check your phone\"). Then what happened, in plain words."
    )
    daraja_error_code = serializers.CharField(
        source="push.daraja_error_code",
        help_text="Daraja's errorCode when it refused the prompt itself (e.g. `500.001.1001`); empty otherwise.",
    )
    paybill = serializers.CharField(source="push.party_b")
    account_reference = serializers.CharField(source="push.account_reference")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_receipt_pending(self, obj) -> bool:
        return obj.status == TokenPurchase.Status.SUCCEEDED and not obj.mpesa_receipt

    def get_customer_message(self, obj) -> str:
        paid = obj.status == TokenPurchase.Status.SUCCEEDED
        return payment_customer_message(obj.push, paid=paid, receipt=obj.mpesa_receipt, reason=obj.reason)


class WalletOut(serializers.Serializer):
    balance = serializers.IntegerField()
    tokens_per_kes = serializers.IntegerField()
    sale_token_fee = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class EntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=WalletEntry.Kind.choices)
    tokens = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    cause = serializers.ChoiceField(choices=WalletEntry.Cause.choices)
    reference = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
