from rest_framework import serializers

from accounts.serializers import PhoneField
from payme.fields import AmountField
from sales.models import Sale

REFERENCE_RE = r"^[A-Za-z0-9 \-]{1,12}$"


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


class CartLineInput(serializers.Serializer):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class SaleInput(serializers.Serializer):
    phone = PhoneField(help_text="The customer's M-Pesa number; they get the prompt.")
    amount = AmountField(required=False, help_text="Ad-hoc sale: KES, decimals round half-up. Omit for a cart.")
    items = CartLineInput(many=True, required=False, help_text="Cart sale: products and quantities. Omit for ad-hoc.")
    account_reference = serializers.RegexField(
        REFERENCE_RE, required=False, max_length=12,
        error_messages={"invalid": "Up to 12 letters, digits, spaces or dashes."},
        help_text="Shown in the prompt; defaults to the config's account reference.",
    )
    description = serializers.CharField(required=False, max_length=13, help_text="Up to 13 characters.")
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


class SaleItemOut(serializers.Serializer):
    product_id = serializers.UUIDField(source="product.public_id")
    name = serializers.CharField(source="product.name")
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField()
    unit_price = serializers.IntegerField()
    line_total = serializers.IntegerField()


class SaleOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=Sale.Status.choices)
    amount = serializers.IntegerField()
    phone = serializers.CharField()
    account_reference = serializers.CharField()
    description = serializers.CharField()
    items = SaleItemOut(many=True)
    reason = serializers.CharField(help_text="Why it is not paid, in plain words; empty when paid or pending.")
    mpesa_receipt = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)
    needs_review = serializers.BooleanField()
    refunded_amount = serializers.IntegerField(help_text="KES refunded so far (succeeded refunds).")
    created_at = serializers.DateTimeField()
    customer_message = serializers.SerializerMethodField()
    daraja_error_code = serializers.SerializerMethodField(
        help_text="Daraja's errorCode when it refused the prompt itself (e.g. `500.001.1001`); empty otherwise."
    )

    def get_customer_message(self, obj) -> str:
        return obj.push.message_for_customer if obj.push_id and obj.push else ""

    def get_daraja_error_code(self, obj) -> str:
        return obj.push.daraja_error_code if obj.push_id and obj.push else ""


class SaleListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Sale.Status.choices, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    phone = PhoneField(required=False)


class ProductListQuery(serializers.Serializer):
    search = serializers.CharField(required=False, max_length=100, allow_blank=True)
