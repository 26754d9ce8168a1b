from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBusinessOwner
from accounts.throttles import PaymentRateThrottle
from audit.services import audit_context
from mpesa.serializers import TimelineOut
from payme.errors import NotFound
from payme.idempotency import run_idempotent
from payme.openapi import error_responses, paginated
from payme.pagination import NewestFirstByTimeCursorPagination
from payouts import serializers as s
from payouts.selectors import active_payout_config_for, payout_get, payout_timeline, payouts, sale_refunds
from payouts.services import (
    NoActivePayoutConfig,
    payout_approve,
    payout_config_balance_request,
    payout_config_deactivate,
    payout_config_setup,
    payout_config_update,
    payout_reject,
    payout_request,
    refund_request,
)

MONEY_OUT_ERRORS = (
    "Errors: `invalid` / `amount_out_of_range` / `invalid_phone` (400), `payout_config_missing` (409), "
    "`payout_limit_exceeded` and `daily_limit_exceeded` (422, the field is `amount`), "
    "`idempotency_key_reused` (422)."
)


class PayoutConfigSetupApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        request=s.PayoutConfigInput,
        responses={201: s.PayoutConfigOut, **error_responses(400, 401, 403)},
        summary="Set up (or replace) the business's B2C shortcode and initiator",
        description="The initiator password is write-only (`initiator_password_set`); `( ) @ .` are refused "
        "(400 `invalid`, field `initiator_password`, the value never echoed). Replacing deactivates the previous config.",
        tags=["payouts"],
    )
    def post(self, request):
        data = s.PayoutConfigInput(data=request.data)
        data.is_valid(raise_exception=True)
        config = payout_config_setup(business=request.tenant.business, context=audit_context(request), **data.validated_data)
        return Response(s.PayoutConfigOut(config).data, status=status.HTTP_201_CREATED)


class PayoutConfigApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.PayoutConfigOut, **error_responses(401, 403, 404)}, summary="The active payout config",
                   description="404 `payout_config_missing` (with `setup_url`) when none is set up.", tags=["payouts"])
    def get(self, request):
        config = active_payout_config_for(business=request.tenant.business)
        if config is None:
            raise NoActivePayoutConfig()
        return Response(s.PayoutConfigOut(config).data)

    @extend_schema(request=s.PayoutConfigInput(partial=True), responses={200: s.PayoutConfigOut, **error_responses(400, 401, 403, 404)},
                   summary="Change the payout config", description="A blank or absent password keeps the stored one.",
                   tags=["payouts"])
    def patch(self, request):
        config = active_payout_config_for(business=request.tenant.business)
        if config is None:
            raise NoActivePayoutConfig()
        data = s.PayoutConfigPatch(data=request.data, current=config)
        data.is_valid(raise_exception=True)
        config = payout_config_update(business=request.tenant.business, changes=data.validated_data, context=audit_context(request))
        return Response(s.PayoutConfigOut(config).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)}, summary="Deactivate the payout config", tags=["payouts"])
    def delete(self, request):
        payout_config_deactivate(business=request.tenant.business, context=audit_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PayoutConfigBalanceApi(APIView):
    permission_classes = [IsBusinessOwner]
    throttle_classes = [PaymentRateThrottle]

    @extend_schema(request=None, responses={202: s.PayoutConfigOut, **error_responses(401, 403, 404)},
                   summary="Ask Daraja for the B2C account balance",
                   description="The answer arrives on a result URL: follow `GET /api/payout-config` (`balance`, `balance_at`).",
                   tags=["payouts"])
    def post(self, request):
        config = payout_config_balance_request(business=request.tenant.business)
        return Response(s.PayoutConfigOut(config).data, status=status.HTTP_202_ACCEPTED)


class PayoutListApi(APIView):
    permission_classes = [IsBusinessOwner]

    def get_throttles(self):
        return [PaymentRateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[c for c, _ in s.Payout.Status.choices]),
                    OpenApiParameter("kind", str, enum=[c for c, _ in s.Payout.Kind.choices])],
        responses={200: paginated(s.PayoutOut, cursor=True), **error_responses(400, 401, 403)},
        operation_id="payouts_list", summary="Payouts and refunds, newest first", tags=["payouts"],
    )
    def get(self, request):
        query = s.PayoutListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = NewestFirstByTimeCursorPagination()
        page = paginator.paginate_queryset(payouts(business=request.tenant.business, **query.validated_data), request, view=self)
        return paginator.get_paginated_response(s.PayoutOut(page, many=True).data)

    @extend_schema(
        request=s.PayoutInput,
        responses={202: s.PayoutOut, **error_responses(400, 401, 403, 409, 422)},
        summary="Pay a phone from the business's B2C account",
        description="Owners only. Above the config's `approval_threshold` the payout waits `awaiting_approval` for a "
        "second owner or a platform superuser; otherwise a worker sends it and it becomes `succeeded` (with `receipt` and "
        "`recipient_name`) or `failed` (with `reason`). Accepts an `Idempotency-Key` header. " + MONEY_OUT_ERRORS,
        tags=["payouts"],
    )
    def post(self, request):
        business = request.tenant.business

        def handle():
            data = s.PayoutInput(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            payout = payout_request(business=business, user=request.user, phone=values["phone"], amount=values["amount"],
                                    remarks=values["remarks"], command_id=values["command"], context=audit_context(request))
            return Response(s.PayoutOut(payout).data, status=status.HTTP_202_ACCEPTED)

        return run_idempotent(request, business=business, scope="payout", handler=handle)


_PAYOUT_ID = OpenApiParameter("payout_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema(parameters=[_PAYOUT_ID])
class PayoutDetailApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.PayoutOut, **error_responses(401, 403, 404)}, summary="One payout or refund (poll this)",
                   tags=["payouts"])
    def get(self, request, payout_id):
        payout = payout_get(business=request.tenant.business, public_id=payout_id)
        if payout is None:
            raise NotFound()
        return Response(s.PayoutOut(payout).data)


@extend_schema(parameters=[_PAYOUT_ID])
class PayoutTimelineApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        responses={200: TimelineOut, **error_responses(401, 403, 404)},
        summary="What happened to a payout or refund, step by step",
        description="Requested (and by whom), the wait for a second owner and their approval or rejection, the M-Pesa "
        "command (sent, M-Pesa's answer, each result delivered and what we did with it, status queries), how it ended, "
        "and the webhook deliveries about it. Oldest first.",
        tags=["payouts"],
    )
    def get(self, request, payout_id):
        business = request.tenant.business
        payout = payout_get(business=business, public_id=payout_id)
        if payout is None:
            raise NotFound()
        return Response(TimelineOut({"id": payout.public_id, "steps": payout_timeline(business=business, payout=payout)}).data)


@extend_schema(parameters=[_PAYOUT_ID])
class PayoutApproveApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(request=None, responses={200: s.PayoutOut, **error_responses(401, 403, 404, 409, 422)},
                   summary="Approve a payout awaiting approval",
                   description="A second owner of the business (not the one who asked). Errors: `approval_not_allowed` (403), "
                   "`payout_not_awaiting_approval` (409).", tags=["payouts"])
    def post(self, request, payout_id):
        payout = payout_approve(business=request.tenant.business, payout_id=payout_id, user=request.user, is_owner=True,
                                context=audit_context(request))
        return Response(s.PayoutOut(payout).data)


@extend_schema(parameters=[_PAYOUT_ID])
class PayoutRejectApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(request=s.RejectInput, responses={200: s.PayoutOut, **error_responses(400, 401, 403, 404, 409)},
                   summary="Reject a payout awaiting approval", tags=["payouts"])
    def post(self, request, payout_id):
        data = s.RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        payout = payout_reject(business=request.tenant.business, payout_id=payout_id, user=request.user, is_owner=True,
                               reason=data.validated_data.get("reason", ""), context=audit_context(request))
        return Response(s.PayoutOut(payout).data)


@extend_schema(parameters=[OpenApiParameter("sale_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class SaleRefundsApi(APIView):
    permission_classes = [IsBusinessOwner]

    def get_throttles(self):
        return [PaymentRateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(responses={200: s.PayoutOut(many=True), **error_responses(401, 403, 404)}, operation_id="sale_refunds_list",
                   summary="The refunds of a sale", tags=["sales"])
    def get(self, request, sale_id):
        from sales.selectors import sale_get

        sale = sale_get(business=request.tenant.business, public_id=sale_id)
        if sale is None:
            raise NotFound()
        return Response(s.PayoutOut(sale_refunds(sale=sale), many=True).data)

    @extend_schema(
        request=s.RefundInput,
        responses={202: s.PayoutOut, **error_responses(400, 401, 403, 404, 409, 422)},
        summary="Refund a paid sale, whole or in part",
        description="The whole amount goes back by Reversal of the sale's receipt; a part by B2C to the phone that paid. "
        "Never more than was paid (`refund_exceeds_paid`, 422); only a paid sale (`sale_not_refundable`, 409). "
        "`restock: true` returns a cart's stock once the refund succeeds. Payout limits and approvals apply. "
        "Accepts an `Idempotency-Key` header. " + MONEY_OUT_ERRORS,
        tags=["sales"],
    )
    def post(self, request, sale_id):
        business = request.tenant.business

        def handle():
            data = s.RefundInput(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            refund = refund_request(business=business, user=request.user, sale_id=sale_id, amount=values.get("amount"),
                                    restock=values["restock"], reason=values.get("reason", ""), context=audit_context(request))
            return Response(s.PayoutOut(refund).data, status=status.HTTP_202_ACCEPTED)

        return run_idempotent(request, business=business, scope=f"refund:{sale_id}", handler=handle)
