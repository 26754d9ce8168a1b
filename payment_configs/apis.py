from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBusinessOwner
from accounts.throttles import PaymentRateThrottle
from audit.services import audit_context
from payme.errors import NotFound
from payme.idempotency import run_idempotent
from payme.openapi import error_responses
from payment_configs import serializers as s
from payment_configs.selectors import active_config_for, c2b_registration_for
from payment_configs.services import (
    NoActiveConfig,
    payment_config_c2b_register,
    payment_config_deactivate,
    payment_config_setup,
    payment_config_update,
    payment_config_verify,
)


class PaymentConfigSetupApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        request=s.PaymentConfigInput,
        responses={201: s.PaymentConfigOut, **error_responses(400, 401, 403)},
        summary="Set up (or replace) the business's Till or Paybill",
        description="Replacing deactivates the previous config (kept for history). Secrets are write-only.",
        tags=["payment-config"],
    )
    def post(self, request):
        data = s.PaymentConfigInput(data=request.data)
        data.is_valid(raise_exception=True)
        config = payment_config_setup(business=request.tenant.business, context=audit_context(request), **data.validated_data)
        return Response(s.PaymentConfigOut(config).data, status=status.HTTP_201_CREATED)


class PaymentConfigApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        responses={200: s.PaymentConfigOut, **error_responses(401, 403, 404)},
        summary="The active config",
        description="404 `payment_config_missing` (with `setup_url`) when none is set up.",
        tags=["payment-config"],
    )
    def get(self, request):
        config = active_config_for(business=request.tenant.business)
        if config is None:
            raise NoActiveConfig()
        return Response(s.PaymentConfigOut(config).data)

    @extend_schema(
        request=s.PaymentConfigInput(partial=True),
        responses={200: s.PaymentConfigOut, **error_responses(400, 401, 403, 404)},
        summary="Change the active config",
        description="A blank or absent passkey keeps the stored one. Changing numbers or secrets resets verification.",
        tags=["payment-config"],
    )
    def patch(self, request):
        config = active_config_for(business=request.tenant.business)
        if config is None:
            raise NoActiveConfig()
        data = s.PaymentConfigPatch(data=request.data, current=config)
        data.is_valid(raise_exception=True)
        config = payment_config_update(business=request.tenant.business, changes=data.validated_data, context=audit_context(request))
        return Response(s.PaymentConfigOut(config).data)

    @extend_schema(
        responses={204: None, **error_responses(401, 403, 404)},
        summary="Deactivate the config (kept for history)",
        tags=["payment-config"],
    )
    def delete(self, request):
        payment_config_deactivate(business=request.tenant.business, context=audit_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PaymentConfigVerifyApi(APIView):
    permission_classes = [IsBusinessOwner]
    throttle_classes = [PaymentRateThrottle]

    @extend_schema(
        request=s.VerifyInput,
        responses={202: s.VerifyOut, **error_responses(400, 401, 403, 404, 409)},
        summary="Verify the config with a KES 1 STK push",
        description=(
            "Sends KES 1 through the business's own config to the owner's phone (or `phone`). "
            "Follow `GET /api/payment-config`: `verification_status` becomes `verified` or `failed` "
            "with `verification_message` in plain words. Accepts an `Idempotency-Key` header. "
            "A worker sends the prompt; if M-Pesa refuses it, `verification_status` turns `failed` with the "
            "reason. Errors: `payment_config_missing` (404), `prompt_in_progress` (409)."
        ),
        tags=["payment-config"],
    )
    def post(self, request):
        business = request.tenant.business

        def handle():
            data = s.VerifyInput(data=request.data)
            data.is_valid(raise_exception=True)
            phone = data.validated_data.get("phone") or business.phone
            config, push = payment_config_verify(business=business, phone=phone, context=audit_context(request))
            body = {
                "status": "pending",
                "phone": push.phone,
                "amount": push.amount,
                "customer_message": push.message_for_customer,
                "config": s.PaymentConfigOut(config).data,
            }
            return Response(body, status=status.HTTP_202_ACCEPTED)

        return run_idempotent(request, business=business, scope="payment_config_verify", handler=handle)


class PaymentConfigC2BRegisterApi(APIView):
    permission_classes = [IsBusinessOwner]
    throttle_classes = [PaymentRateThrottle]

    @extend_schema(
        request=s.C2BRegisterInput,
        responses={202: s.C2BRegistrationOut, **error_responses(400, 401, 403, 409, 429)},
        summary="Register the config's C2B URLs with M-Pesa (payments from the phone menu)",
        description=(
            "Owner. Answers 202 with `status: queued`; a worker calls Daraja. Follow `GET /api/payment-config/c2b`: "
            "`registered`, or `failed` with `message` in plain words (URLs already registered for the shortcode, "
            "`500.003.1001`; the Daraja app lacks this C2B version, `401.003.01`: try the other `version`). "
            "Options left out keep their last value. Errors: `invalid` (400), `payment_config_missing` (409)."
        ),
        tags=["payment-config"],
    )
    def post(self, request):
        data = s.C2BRegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "validation" in values:
            values["validation_enabled"] = values.pop("validation")
        registration = payment_config_c2b_register(business=request.tenant.business, **values)
        return Response(s.C2BRegistrationOut(registration).data, status=status.HTTP_202_ACCEPTED)


class PaymentConfigC2BApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        responses={200: s.C2BRegistrationOut, **error_responses(401, 403, 404)},
        summary="The active config's C2B registration",
        description="404 `not_found` until `POST /api/payment-config/c2b/register` was called for the config in use.",
        tags=["payment-config"],
    )
    def get(self, request):
        registration = c2b_registration_for(business=request.tenant.business)
        if registration is None:
            raise NotFound("No C2B registration for the config in use.")
        return Response(s.C2BRegistrationOut(registration).data)
