from rest_framework import serializers

from accounts.serializers import PhoneField
from mpesa.models import C2BReceipt
from mpesa.selectors import payment_customer_message
from payme.fields import AmountField
from payme.serializers import FieldsOnceSerializer
from sales.models import Sale

REFERENCE_RE = r"^(?=.*[A-Za-z0-9])[A-Za-z0-9 \-]{1,40}$"


class ProductInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    sku = serializers.RegexField(r"^[A-Za-z0-9_\-.]{1,40}$", max_length=40, error_messages={"invalid": "Letters, digits, - _ . only."})
    price = serializers.IntegerField(min_value=1, max_value=250_000)
    stock = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    is_active = serializers.BooleanField(default=True)


class ProductOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    sku = serializers.CharField()
    price = serializers.IntegerField()
    stock = serializers.IntegerField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CartLineInput(FieldsOnceSerializer):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class SaleInput(FieldsOnceSerializer):
    phone = PhoneField(help_text="The customer's M-Pesa number; they get the prompt.")
    amount = AmountField(required=False, help_text="Ad-hoc sale: KES, decimals round half-up. Omit for a cart.")
    items = CartLineInput(many=True, required=False, help_text="Cart sale: products and quantities. Omit for ad-hoc.")
    account_reference = serializers.RegexField(
        REFERENCE_RE, required=False, max_length=40,
        error_messages={"invalid": "Up to 40 letters, digits, spaces or dashes, with at least one letter or digit."},
        help_text=(
            "Up to 40 letters, digits, spaces or dashes; defaults to the config's account reference. Kept whole on "
            "the sale. Shortened for M-Pesa, whose AccountReference (shown in the prompt) takes 12: spaces and "
            "dashes are dropped, then the first 12 kept (\"Parking slot 5\" → \"Parkingslot5\")."
        ),
    )
    description = serializers.CharField(
        required=False, max_length=100,
        help_text=(
            "Up to 100 characters, kept whole on the sale. Shortened for M-Pesa, whose TransactionDesc takes 13: "
            "whole words while they fit, else the first 13 characters (\"Parking fee for slot 5\" → \"Parking fee\")."
        ),
    )
    businessId = serializers.CharField(required=False, max_length=64, help_text="Accepted for the seed app; must be your own business.")  # noqa: N815

    def validate(self, attrs):
        has_amount, has_items = "amount" in attrs, "items" in attrs
        if has_amount and has_items:
            raise serializers.ValidationError({"amount": ["Give either amount or items, not both."]})
        if not has_amount and not has_items:
            raise serializers.ValidationError({"amount": ["Give an amount, or items for a cart."]})
        if has_items and not attrs["items"]:
            raise serializers.ValidationError({"items": ["The cart is empty."]})
        return attrs


class InvoiceInput(serializers.Serializer):
    phone = PhoneField(required=False, help_text="The customer's M-Pesa number, for your records (no prompt is sent).")
    amount = AmountField(required=False, help_text="Ad-hoc invoice: KES, decimals round half-up. Omit for a cart.")
    items = CartLineInput(many=True, required=False, help_text="Cart invoice: products and quantities (stock is reserved).")
    description = serializers.CharField(required=False, max_length=13, help_text="Up to 13 characters.")

    def validate(self, attrs):
        return SaleInput.validate(self, attrs)


class SaleItemOut(FieldsOnceSerializer):
    product_id = serializers.UUIDField(source="product.public_id")
    name = serializers.CharField(source="product.name")
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField()
    unit_price = serializers.IntegerField()
    line_total = serializers.IntegerField()


class SaleOut(FieldsOnceSerializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=Sale.Status.choices)
    amount = serializers.IntegerField()
    phone = serializers.CharField()
    account_reference = serializers.CharField()
    description = serializers.CharField()
    items = SaleItemOut(many=True)
    reason = serializers.CharField(help_text="Why it is not paid, in plain words; empty when paid or pending.")
    mpesa_receipt = serializers.CharField(help_text="Empty while `receipt_pending`, and until paid.")
    receipt_pending = serializers.SerializerMethodField(
        help_text=(
            "True when the sale is paid but the receipt number is not known yet: reconciliation confirmed it "
            "by STK query, which does not return the receipt; Safaricom's callback fills it in."
        )
    )
    paid_at = serializers.DateTimeField(allow_null=True)
    needs_review = serializers.BooleanField()
    refunded_amount = serializers.IntegerField(help_text="KES refunded so far (succeeded refunds).")
    created_at = serializers.DateTimeField()
    customer_message = serializers.SerializerMethodField(
        help_text=(
            "While pending, what the prompt is doing (\"Sending…\", then Daraja's \"check your phone\"). Then what "
            "happened: \"Paid: M-Pesa receipt …\", the receipt note, or the same plain words as `reason`."
        )
    )
    daraja_error_code = serializers.SerializerMethodField(
        help_text="Daraja's errorCode when it refused the prompt itself (e.g. `500.001.1001`); empty otherwise."
    )

    channel = serializers.ChoiceField(choices=Sale.Channel.choices, help_text="`stk` (prompt) or `c2b` (invoice).")
    paybill = serializers.CharField(help_text="Invoices: the paybill number the customer pays to.")
    account_number = serializers.CharField(allow_null=True, help_text="Invoices: the account number the customer types.")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="Invoices: unpaid by then, it expires and releases its stock.")

    def get_receipt_pending(self, obj) -> bool:
        return obj.status == Sale.Status.PAID and not obj.mpesa_receipt

    def get_customer_message(self, obj) -> str:
        push = obj.push if obj.push_id else None
        return payment_customer_message(push, paid=obj.status == Sale.Status.PAID, receipt=obj.mpesa_receipt, reason=obj.reason)

    def get_daraja_error_code(self, obj) -> str:
        return obj.push.daraja_error_code if obj.push_id and obj.push else ""


class SaleListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Sale.Status.choices, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    phone = PhoneField(required=False)


class ProductListQuery(serializers.Serializer):
    search = serializers.CharField(required=False, max_length=100, allow_blank=True)


class C2BPaymentOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=C2BReceipt.Status.choices)
    receipt = serializers.CharField(source="trans_id", help_text="The M-Pesa receipt (TransID).")
    transaction_type = serializers.CharField(help_text="'Pay Bill' or 'Buy Goods', as M-Pesa sends it.")
    amount = serializers.IntegerField(allow_null=True, help_text="Whole KES; null when M-Pesa sent cents (see review_reason).")
    trans_amount = serializers.CharField(help_text="The amount exactly as M-Pesa sent it.")
    shortcode = serializers.CharField()
    account_number = serializers.CharField(source="bill_ref_number", help_text="What the customer typed as the account.")
    msisdn = serializers.CharField(help_text="Masked (v2) or hashed (v1) by M-Pesa: not a phone number.")
    payer_name = serializers.CharField()
    paid_at = serializers.DateTimeField(source="trans_time", allow_null=True)
    review_reason = serializers.CharField()
    sale_id = serializers.SerializerMethodField(help_text="The sale it paid, once matched.")
    created_at = serializers.DateTimeField()

    def get_sale_id(self, obj) -> str | None:
        sale = getattr(obj, "sale", None) if obj.status == C2BReceipt.Status.MATCHED else None
        return str(sale.public_id) if sale is not None else None


class C2BPaymentListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=C2BReceipt.Status.choices, required=False)


class C2BPaymentMatchInput(serializers.Serializer):
    sale_id = serializers.UUIDField(help_text="An unpaid invoice (awaiting payment or expired) of the same amount.")
