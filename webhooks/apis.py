from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBusinessOwner
from audit.services import audit_context
from payme.openapi import error_responses, paginated
from payme.pagination import DefaultPagination
from webhooks import serializers as s
from webhooks.selectors import webhook_deliveries, webhook_delivery_get, webhook_endpoint_get, webhook_endpoints
from webhooks.services import (
    webhook_deliveries_replay_since,
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_test,
    webhook_endpoint_update,
)

TAGS = ["webhooks"]
URL_RULES = (
    "The URL must be https, at most 2000 characters, and resolve to public addresses only "
    "(`webhook_url_not_allowed`); events are from the documented list (`unknown_event_type`)."
)


class EndpointListApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(parameters=[OpenApiParameter("page", int, required=False), OpenApiParameter("page_size", int, required=False)],
                   responses={200: paginated(s.EndpointOut), **error_responses(401, 403, 404)}, operation_id="webhook_endpoints_list",
                   summary="The business's webhook endpoints", description="A page past the end is a 404.", tags=TAGS)
    def get(self, request):
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(webhook_endpoints(business=request.tenant.business), request, view=self)
        return paginator.get_paginated_response(s.EndpointOut(page, many=True).data)

    @extend_schema(request=s.EndpointInput, responses={201: s.EndpointWithSecretOut, **error_responses(400, 401, 403)},
                   summary="Register an endpoint (the secret is shown only in this answer)", description=URL_RULES, tags=TAGS)
    def post(self, request):
        data = s.EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(business=request.tenant.business, context=audit_context(request), **data.validated_data)
        return Response(s.EndpointWithSecretOut(endpoint, context={"secret": secret}).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.EndpointOut, **error_responses(401, 403, 404)}, summary="One endpoint (never its secret)", tags=TAGS)
    def get(self, request, endpoint_id):
        return Response(s.EndpointOut(webhook_endpoint_get(business=request.tenant.business, endpoint_id=endpoint_id)).data)

    @extend_schema(request=s.EndpointPatch, responses={200: s.EndpointOut, **error_responses(400, 401, 403, 404)},
                   summary="Change url, events, description, or enable/disable", description=URL_RULES, tags=TAGS)
    def patch(self, request, endpoint_id):
        endpoint = webhook_endpoint_get(business=request.tenant.business, endpoint_id=endpoint_id)
        data = s.EndpointPatch(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, changes=dict(data.validated_data), context=audit_context(request))
        return Response(s.EndpointOut(endpoint).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)}, summary="Delete (stop sending; history kept)", tags=TAGS)
    def delete(self, request, endpoint_id):
        endpoint = webhook_endpoint_get(business=request.tenant.business, endpoint_id=endpoint_id)
        webhook_endpoint_delete(endpoint=endpoint, context=audit_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(request=None, responses={200: s.EndpointWithSecretOut, **error_responses(401, 403, 404)},
                   summary="New secret (shown only now); the old one keeps signing beside it for 24 h", tags=TAGS)
    def post(self, request, endpoint_id):
        endpoint = webhook_endpoint_get(business=request.tenant.business, endpoint_id=endpoint_id)
        endpoint, secret = webhook_endpoint_rotate_secret(endpoint=endpoint, context=audit_context(request))
        return Response(s.EndpointWithSecretOut(endpoint, context={"secret": secret}).data)


class EndpointTestApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(request=None, responses={202: s.DeliveryOut, **error_responses(401, 403, 404)},
                   summary="Send a signed `ping` event to this endpoint", tags=TAGS)
    def post(self, request, endpoint_id):
        endpoint = webhook_endpoint_get(business=request.tenant.business, endpoint_id=endpoint_id)
        delivery = webhook_endpoint_test(endpoint=endpoint)
        return Response(s.DeliveryOut(webhook_delivery_get(business=request.tenant.business, delivery_id=delivery.public_id)).data,
                        status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(parameters=[s.DeliveryFilterInput, OpenApiParameter("page", int, required=False), OpenApiParameter("page_size", int, required=False)],
                   responses={200: paginated(s.DeliveryOut), **error_responses(400, 401, 403, 404)}, operation_id="webhook_deliveries_list",
                   summary="Deliveries, newest first, with every attempt", description="A page past the end is a 404.", tags=TAGS)
    def get(self, request):
        filters = s.DeliveryFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(webhook_deliveries(business=request.tenant.business, **filters.validated_data), request, view=self)
        return paginator.get_paginated_response(s.DeliveryOut(page, many=True).data)


class DeliveryDetailApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(responses={200: s.DeliveryOut, **error_responses(401, 403, 404)}, summary="One delivery and its attempts", tags=TAGS)
    def get(self, request, delivery_id):
        return Response(s.DeliveryOut(webhook_delivery_get(business=request.tenant.business, delivery_id=delivery_id)).data)


class DeliveryReplayApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(request=None, responses={202: s.DeliveryOut, **error_responses(400, 401, 403, 404)},
                   operation_id="webhook_delivery_replay",
                   summary="Send this delivery's event again (same webhook-id), as a new delivery",
                   description="`webhook_endpoint_disabled` (400) when the endpoint is disabled or deleted.", tags=TAGS)
    def post(self, request, delivery_id):
        delivery = webhook_delivery_get(business=request.tenant.business, delivery_id=delivery_id)
        replay = webhook_delivery_replay(delivery=delivery, context=audit_context(request))
        return Response(s.DeliveryOut(webhook_delivery_get(business=request.tenant.business, delivery_id=replay.public_id)).data,
                        status=status.HTTP_202_ACCEPTED)


class DeliveryReplaySinceApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(request=s.ReplaySinceInput, responses={202: s.ReplaySinceOut, **error_responses(400, 401, 403, 404)},
                   operation_id="webhook_deliveries_replay_since",
                   summary="Replay every event since a time (to enabled endpoints)", tags=TAGS)
    def post(self, request):
        data = s.ReplaySinceInput(data=request.data)
        data.is_valid(raise_exception=True)
        business = request.tenant.business
        endpoint_id = data.validated_data.get("endpoint_id")
        endpoint = webhook_endpoint_get(business=business, endpoint_id=endpoint_id) if endpoint_id else None
        replays = webhook_deliveries_replay_since(business=business, since=data.validated_data["since"], endpoint=endpoint, context=audit_context(request))
        return Response({"count": len(replays), "deliveries": [str(r.public_id) for r in replays]}, status=status.HTTP_202_ACCEPTED)
