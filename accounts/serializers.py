from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import Membership, User
from mpesa.phone import InvalidPhone, normalize_phone


class PhoneField(serializers.CharField):
    """A Kenyan mobile number in any common form, normalised to 2547XXXXXXXX / 2541XXXXXXXX."""

    default_error_messages = {"invalid_phone": "Enter a Kenyan mobile number such as 0712345678."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        value = super().to_internal_value(data)
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            raise serializers.ValidationError(str(exc), code="invalid_phone") from None


def _check_password(attrs, password_field="password"):
    probe = User(email=attrs.get("email", ""), full_name=attrs.get("full_name", ""))
    try:
        password_validation.validate_password(attrs[password_field], user=probe)
    except DjangoValidationError as exc:
        raise serializers.ValidationError({password_field: list(exc.messages)}, code="weak_password") from None


class SignUpInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    full_name = serializers.CharField(max_length=150)
    business_name = serializers.CharField(max_length=120)
    phone = PhoneField()

    def validate(self, attrs):
        _check_password(attrs)
        return attrs


class SignInInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField()


class UserOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()
    full_name = serializers.CharField()


class BusinessOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()


class SessionOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserOut()
    business = BusinessOut()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    setup_needed = serializers.BooleanField()
    setup_url = serializers.CharField(allow_null=True)


class MeOut(serializers.Serializer):
    user = UserOut()
    business = BusinessOut()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    setup_needed = serializers.BooleanField()
    setup_url = serializers.CharField(allow_null=True)


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class MemberInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    role = serializers.ChoiceField(choices=[Membership.Role.CASHIER], default=Membership.Role.CASHIER)

    def validate(self, attrs):
        _check_password(attrs)
        return attrs


class MemberOut(serializers.Serializer):
    id = serializers.UUIDField(source="user.public_id")
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
