from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBusinessOwner
from accounts.throttles import PaymentRateThrottle
from mpesa.serializers import TimelineOut
from payme.errors import NotFound
from payme.idempotency import run_idempotent
from payme.openapi import error_responses, paginated
from payme.pagination import DefaultPagination, NewestFirstCursorPagination
from wallet import serializers as s
from wallet.selectors import token_purchase_get, token_purchase_timeline, token_purchases, wallet_entries, wallet_for
from wallet.services import token_purchase_start

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Retry-safe key: the same key and body return the first response without a second prompt.",
)


class PurchaseInitiateApi(APIView):
    permission_classes = [IsBusinessOwner]
    throttle_classes = [PaymentRateThrottle]

    @extend_schema(
        request=s.PurchaseInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: s.PurchaseOut, **error_responses(400, 401, 403, 409, 422, 429)},
        summary="Buy wallet tokens by STK push on paybill 650880, account 37605544",
        description=(
            "Owner only. Answers 202 at once; a worker sends the prompt. Poll `GET /api/wallet-payment/{id}` until "
            "`status` leaves `pending`: M-Pesa refusing the prompt shows there as `failed` with `reason` and "
            "`daraja_error_code` (e.g. the customer already has a prompt open). "
            "Errors: `invalid`, `invalid_phone`, `amount_out_of_range` (400), `prompt_in_progress` (409), "
            "`idempotency_key_reused` (422), `throttled` (429)."
        ),
        tags=["wallet"],
    )
    def post(self, request):
        business = request.tenant.business

        def handle():
            data = s.PurchaseInput(data=request.data)
            data.is_valid(raise_exception=True)
            # run_idempotent's transaction ends with a refusal: no savepoint needed inside it.
            purchase = token_purchase_start(business=business, user=request.user, savepoint=False, **data.validated_data)
            return Response(s.PurchaseOut(purchase).data, status=status.HTTP_202_ACCEPTED)

        return run_idempotent(request, business=business, scope="wallet_purchase", handler=handle)


class PurchaseListApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: paginated(s.PurchaseOut), **error_responses(401, 403)}, operation_id="wallet_payment_list", summary="Token purchases, newest first", tags=["wallet"])
    def get(self, request):
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(
            token_purchases(business=request.tenant.business).select_related("push"), request, view=self
        )
        return paginator.get_paginated_response(s.PurchaseOut(page, many=True).data)


@extend_schema(parameters=[OpenApiParameter("purchase_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class PurchaseDetailApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.PurchaseOut, **error_responses(401, 403, 404)}, summary="One token purchase (poll this)", tags=["wallet"])
    def get(self, request, purchase_id):
        purchase = token_purchase_get(business=request.tenant.business, public_id=purchase_id)
        if purchase is None:
            raise NotFound()
        return Response(s.PurchaseOut(purchase).data)


@extend_schema(parameters=[OpenApiParameter("purchase_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class PurchaseTimelineApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        responses={200: TimelineOut, **error_responses(401, 403, 404)},
        summary="What happened to a token purchase, step by step",
        description="Started (and by whom), sent to M-Pesa and its answer, the prompt, each M-Pesa result delivered "
        "and what we did with it, the last status query, the wallet credit. Oldest first.",
        tags=["wallet"],
    )
    def get(self, request, purchase_id):
        business = request.tenant.business
        purchase = token_purchase_get(business=business, public_id=purchase_id)
        if purchase is None:
            raise NotFound()
        return Response(TimelineOut({"id": purchase.public_id, "steps": token_purchase_timeline(business=business, purchase=purchase)}).data)


class WalletApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.WalletOut, **error_responses(401, 403)}, summary="Wallet balance", tags=["wallet"])
    def get(self, request):
        wallet = wallet_for(business=request.tenant.business)
        return Response(
            s.WalletOut(
                {
                    "balance": wallet.balance,
                    "tokens_per_kes": settings.WALLET_TOKENS_PER_KES,
                    "sale_token_fee": settings.SALES_TOKEN_FEE,
                    "updated_at": wallet.updated_at,
                }
            ).data
        )


class WalletEntriesApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        responses={200: paginated(s.EntryOut, cursor=True), **error_responses(401, 403)},
        operation_id="wallet_entries_list",
        summary="Ledger entries, newest first (cursor-paginated: stable while new entries arrive)",
        tags=["wallet"],
    )
    def get(self, request):
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(wallet_entries(business=request.tenant.business), request, view=self)
        return paginator.get_paginated_response(s.EntryOut(page, many=True).data)
