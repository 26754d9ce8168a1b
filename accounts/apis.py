from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken as JwtInvalidToken
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import serializers as s
from accounts.backends import EmailBackend
from accounts.permissions import IsBusinessMember, IsBusinessOwner
from accounts.selectors import business_members, membership_for_user
from accounts.services import business_sign_up, member_add
from accounts.throttles import AuthRateThrottle
from audit.services import audit_context
from payme.errors import TOKEN_INVALID_MESSAGE, ApplicationError
from payme.openapi import error_responses
from payment_configs.selectors import setup_needed
from payment_configs.services import SETUP_URL


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    status_code = status.HTTP_401_UNAUTHORIZED
    default_message = "The email or password is not correct."


class InvalidToken(ApplicationError):
    code = "token_invalid"
    status_code = status.HTTP_401_UNAUTHORIZED
    default_message = TOKEN_INVALID_MESSAGE


def _session_payload(membership, *, with_tokens: bool):
    needed = setup_needed(business=membership.business)
    payload = {
        "user": s.UserOut(membership.user).data,
        "business": s.BusinessOut(membership.business).data,
        "role": membership.role,
        "setup_needed": needed,
        "setup_url": SETUP_URL if needed else None,
    }
    if with_tokens:
        refresh = RefreshToken.for_user(membership.user)
        payload = {"access": str(refresh.access_token), "refresh": str(refresh), **payload}
    return payload


class SignUpApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        request=s.SignUpInput,
        responses={201: s.SessionOut, **error_responses(400, 429)},
        summary="Create an owner account and its business",
        description="Error codes: `invalid`, `email_taken`, `invalid_phone`, `malformed_json`, `throttled`.",
        tags=["auth"],
    )
    def post(self, request):
        data = s.SignUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = business_sign_up(**data.validated_data)
        return Response(_session_payload(membership, with_tokens=True), status=status.HTTP_201_CREATED)


class SignInApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        request=s.SignInInput,
        responses={200: s.SessionOut, **error_responses(400, 401, 429)},
        summary="Sign in with email and password",
        description="A wrong email or password is the same 401 `invalid_credentials`.",
        tags=["auth"],
    )
    def post(self, request):
        data = s.SignInInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = EmailBackend().authenticate(request, email=data.validated_data["email"], password=data.validated_data["password"])
        membership = membership_for_user(user) if user else None
        if membership is None:
            raise InvalidCredentials()
        return Response(_session_payload(membership, with_tokens=True))


class TokenRefreshApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        request=s.RefreshInput,
        responses={200: s.TokenPairOut, **error_responses(400, 401)},
        summary="Exchange a refresh token for a new pair (the old refresh token stops working)",
        tags=["auth"],
    )
    def post(self, request):
        data = TokenRefreshSerializer(data=request.data)
        try:
            data.is_valid(raise_exception=True)
        except (TokenError, JwtInvalidToken, AuthenticationFailed):
            raise InvalidToken() from None
        return Response(data.validated_data)


class SignOutApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=s.RefreshInput,
        responses={204: None, **error_responses(400, 401)},
        summary="Revoke a refresh token",
        tags=["auth"],
    )
    def post(self, request):
        data = s.RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            RefreshToken(data.validated_data["refresh"]).blacklist()
        except TokenError:
            raise InvalidToken() from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsBusinessMember]

    @extend_schema(responses={200: s.MeOut, **error_responses(401, 403)}, summary="Who am I", tags=["auth"])
    def get(self, request):
        return Response(_session_payload(request.tenant.membership, with_tokens=False))


class MembersApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        responses={200: s.MemberOut(many=True), **error_responses(401, 403)},
        summary="List the business's members",
        tags=["business"],
    )
    def get(self, request):
        members = business_members(business=request.tenant.business)
        return Response(s.MemberOut(members, many=True).data)

    @extend_schema(
        request=s.MemberInput,
        responses={201: s.MemberOut, **error_responses(400, 401, 403)},
        summary="Add a cashier",
        description="Error codes: `invalid`, `email_taken`.",
        tags=["business"],
    )
    def post(self, request):
        data = s.MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = member_add(business=request.tenant.business, context=audit_context(request), **data.validated_data)
        return Response(s.MemberOut(membership).data, status=status.HTTP_201_CREATED)
