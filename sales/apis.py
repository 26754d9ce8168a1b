from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBusinessMember, IsBusinessOwner, OwnerWritesMemberReads
from accounts.throttles import PaymentRateThrottle
from mpesa.serializers import TimelineOut
from payme.errors import NotFound
from payme.idempotency import run_idempotent
from payme.openapi import error_responses, paginated
from payme.pagination import DefaultPagination, NewestFirstByTimeCursorPagination
from sales import serializers as s
from sales.selectors import c2b_payment_get, c2b_payments, product_get, products, sale_get, sale_timeline, sales
from sales.services import (
    c2b_payment_match,
    invoice_create,
    product_create,
    product_deactivate,
    product_update,
    sale_start,
)
from wallet.apis import IDEMPOTENCY_HEADER


class ProductListApi(APIView):
    permission_classes = [OwnerWritesMemberReads]

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Part of the name or SKU.")],
        responses={200: paginated(s.ProductOut), **error_responses(400, 401, 403)},
        operation_id="products_list",
        summary="Products (owners and cashiers)",
        tags=["products"],
    )
    def get(self, request):
        query = s.ProductListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(
            products(business=request.tenant.business, search=query.validated_data.get("search", "")), request, view=self
        )
        return paginator.get_paginated_response(s.ProductOut(page, many=True).data)

    @extend_schema(
        request=s.ProductInput,
        responses={201: s.ProductOut, **error_responses(400, 401, 403)},
        summary="Create a product (owner)",
        description="Error codes: `invalid`, `sku_taken`.",
        tags=["products"],
    )
    def post(self, request):
        data = s.ProductInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        is_active = values.pop("is_active", True)
        product = product_create(business=request.tenant.business, author=request.user, **values)
        if not is_active:
            product_deactivate(business=request.tenant.business, product_id=product.public_id)
            product.refresh_from_db()
        return Response(s.ProductOut(product).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[OpenApiParameter("product_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class ProductDetailApi(APIView):
    permission_classes = [OwnerWritesMemberReads]

    @extend_schema(responses={200: s.ProductOut, **error_responses(401, 403, 404)}, summary="One product", tags=["products"])
    def get(self, request, product_id):
        product = product_get(business=request.tenant.business, public_id=product_id)
        if product is None:
            raise NotFound()
        return Response(s.ProductOut(product).data)

    @extend_schema(
        request=s.ProductInput(partial=True),
        responses={200: s.ProductOut, **error_responses(400, 401, 403, 404)},
        summary="Change a product (owner); a new stock is recorded as an adjustment",
        tags=["products"],
    )
    def patch(self, request, product_id):
        data = s.ProductInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        product = product_update(business=request.tenant.business, product_id=product_id, changes=dict(data.validated_data), author=request.user)
        return Response(s.ProductOut(product).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)}, summary="Deactivate a product (owner; kept for history)", tags=["products"])
    def delete(self, request, product_id):
        product_deactivate(business=request.tenant.business, product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SalePaymentApi(APIView):
    permission_classes = [IsBusinessMember]
    throttle_classes = [PaymentRateThrottle]

    @extend_schema(
        request=s.SaleInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: s.SaleOut, **error_responses(400, 401, 402, 403, 404, 409, 422, 429)},
        summary="Charge a customer by STK push (ad-hoc amount or a cart)",
        description=(
            "Owners and cashiers. Answers 202 at once with the sale `pending` (stock reserved); a worker sends the "
            "prompt. Poll `GET /api/sales/{id}` until `status` leaves `pending`. M-Pesa refusing the prompt "
            "shows there as `failed` with `reason` and `daraja_error_code` (stock and token hold released). "
            "Error codes: `invalid`, `invalid_phone`, `amount_out_of_range`, `unknown_product`, "
            "`product_inactive` (400); `insufficient_tokens` (402); `insufficient_stock`, "
            "`payment_config_missing`, `payment_config_unverified`, `prompt_in_progress` (409); "
            "`idempotency_key_reused` (422); `throttled` (429)."
        ),
        tags=["sales"],
    )
    def post(self, request):
        business = request.tenant.business

        def handle():
            data = s.SaleInput(data=request.data)
            data.is_valid(raise_exception=True)
            values = dict(data.validated_data)
            values.pop("businessId", None)  # checked with the tenant: accounts.permissions.refuse_another_business
            # run_idempotent's transaction ends with a refusal: no savepoint needed inside it.
            sale = sale_start(business=business, user=request.user, savepoint=False, **values)
            return Response(s.SaleOut(sale).data, status=status.HTTP_202_ACCEPTED)

        return run_idempotent(request, business=business, scope="sale_payment", handler=handle)


class SaleListApi(APIView):
    permission_classes = [IsBusinessMember]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[c for c, _ in s.Sale.Status.choices]),
            OpenApiParameter("date_from", str, description="YYYY-MM-DD (Nairobi time)"),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD (Nairobi time)"),
            OpenApiParameter("phone", str),
        ],
        responses={200: paginated(s.SaleOut, cursor=True), **error_responses(400, 401, 403)},
        operation_id="sales_list",
        summary="Sales, newest first (cursor-paginated: follow `next`)",
        tags=["sales"],
    )
    def get(self, request):
        query = s.SaleListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = NewestFirstByTimeCursorPagination()
        page = paginator.paginate_queryset(sales(business=request.tenant.business, **query.validated_data), request, view=self)
        return paginator.get_paginated_response(s.SaleOut(page, many=True).data)


@extend_schema(parameters=[OpenApiParameter("sale_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class SaleDetailApi(APIView):
    permission_classes = [IsBusinessMember]

    @extend_schema(responses={200: s.SaleOut, **error_responses(401, 403, 404)}, summary="One sale (poll this)", tags=["sales"])
    def get(self, request, sale_id):
        sale = sale_get(business=request.tenant.business, public_id=sale_id)
        if sale is None:
            raise NotFound()
        return Response(s.SaleOut(sale).data)


class SaleInvoiceApi(APIView):
    permission_classes = [IsBusinessMember]
    throttle_classes = [PaymentRateThrottle]

    @extend_schema(
        request=s.InvoiceInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.SaleOut, **error_responses(400, 401, 403, 409, 422, 429)},
        summary="An invoice the customer pays from the M-Pesa menu (C2B, no prompt)",
        description=(
            "Owners and cashiers. Answers 201 with `status: awaiting_payment`, the `paybill` and a generated "
            "`account_number` (8 characters, no 0/O or 1/I) for the customer to pay to; stock of a cart is "
            "reserved. A C2B payment with that account number (any case, spaces trimmed) and exactly `amount` "
            "turns it `paid`; another amount leaves it unpaid and flags it `needs_review`. Unpaid at "
            "`expires_at` (SALES_INVOICE_EXPIRY_SECONDS) it turns `expired` and releases its stock. "
            "Error codes: `invalid`, `invalid_phone`, `amount_out_of_range`, `unknown_product`, "
            "`product_inactive` (400); `insufficient_stock`, `payment_config_missing`, "
            "`payment_config_unverified`, `paybill_required` (409); `idempotency_key_reused` (422); `throttled` (429)."
        ),
        tags=["sales"],
    )
    def post(self, request):
        business = request.tenant.business

        def handle():
            data = s.InvoiceInput(data=request.data)
            data.is_valid(raise_exception=True)
            sale = invoice_create(business=business, user=request.user, **data.validated_data)
            return Response(s.SaleOut(sale).data, status=status.HTTP_201_CREATED)

        return run_idempotent(request, business=business, scope="sale_invoice", handler=handle)


class C2BPaymentListApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[c for c, _ in s.C2BReceipt.Status.choices])],
        responses={200: paginated(s.C2BPaymentOut), **error_responses(400, 401, 403)},
        operation_id="c2b_payments_list",
        summary="Payments that arrived without a prompt (owner), newest first",
        description="`?status=unmatched` lists what the owner can attach to an invoice.",
        tags=["c2b-payments"],
    )
    def get(self, request):
        query = s.C2BPaymentListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(c2b_payments(business=request.tenant.business, **query.validated_data), request, view=self)
        return paginator.get_paginated_response(s.C2BPaymentOut(page, many=True).data)


@extend_schema(parameters=[OpenApiParameter("payment_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class C2BPaymentDetailApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.C2BPaymentOut, **error_responses(401, 403, 404)}, summary="One C2B payment (owner)", tags=["c2b-payments"])
    def get(self, request, payment_id):
        payment = c2b_payment_get(business=request.tenant.business, public_id=payment_id)
        if payment is None:
            raise NotFound()
        return Response(s.C2BPaymentOut(payment).data)


@extend_schema(parameters=[OpenApiParameter("payment_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class C2BPaymentMatchApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        request=s.C2BPaymentMatchInput,
        responses={200: s.SaleOut, **error_responses(400, 401, 403, 404, 409)},
        summary="Attach an unmatched C2B payment to an unpaid invoice (owner)",
        description=(
            "The invoice turns `paid` with the payment's receipt. Error codes: `invalid` (400); `not_found` "
            "(404, also another business's payment or sale); `c2b_payment_not_unmatched`, `sale_not_open`, "
            "`amount_mismatch` (409)."
        ),
        tags=["c2b-payments"],
    )
    def post(self, request, payment_id):
        business = request.tenant.business
        # Another business's payment is a 404 whatever the body says.
        if c2b_payment_get(business=business, public_id=payment_id) is None:
            raise NotFound()
        data = s.C2BPaymentMatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        sale = c2b_payment_match(business=business, receipt_id=payment_id, sale_id=data.validated_data["sale_id"])
        return Response(s.SaleOut(sale_get(business=business, public_id=sale.public_id)).data)


@extend_schema(parameters=[OpenApiParameter("sale_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class SaleTimelineApi(APIView):
    permission_classes = [IsBusinessMember]

    @extend_schema(
        responses={200: TimelineOut, **error_responses(401, 403, 404)},
        summary="What happened to a sale, step by step",
        description="Started (and by whom), sent to M-Pesa and its answer, the prompt, each M-Pesa result delivered "
        "and what we did with it, the last status query, where the stock went, the token fee. Oldest first.",
        tags=["sales"],
    )
    def get(self, request, sale_id):
        business = request.tenant.business
        sale = sale_get(business=business, public_id=sale_id)
        if sale is None:
            raise NotFound()
        return Response(TimelineOut({"id": sale.public_id, "steps": sale_timeline(business=business, sale=sale)}).data)
