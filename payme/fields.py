from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mpesa.rules import round_amount


@extend_schema_field(OpenApiTypes.NUMBER)
class AmountField(serializers.Field):
    """Whole KES. Accepts numbers or numeric strings; decimals round half-up ("1140.8333" → 1141).
    Must be 1 … MPESA_MAX_AMOUNT after rounding."""

    default_error_messages = {
        "invalid": "Enter an amount in shillings, e.g. 1141.",
        "amount_out_of_range": "The amount must be between 1 and {max} shillings.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float, str)):
            self.fail("invalid")
        try:
            amount = round_amount(data)
        except ValueError:
            self.fail("invalid")
        if not 1 <= amount <= settings.MPESA_MAX_AMOUNT:
            raise serializers.ValidationError(
                self.error_messages["amount_out_of_range"].format(max=settings.MPESA_MAX_AMOUNT),
                code="amount_out_of_range",
            )
        return amount

    def to_representation(self, value):
        return int(value)
