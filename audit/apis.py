from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from accounts.permissions import IsBusinessOwner
from audit import serializers as s
from audit.selectors import audit_events
from payme.openapi import error_responses, paginated
from payme.pagination import NewestFirstByTimeCursorPagination


class AuditEventsApi(APIView):
    permission_classes = [IsBusinessOwner]

    @extend_schema(
        parameters=[s.AuditFilterInput, OpenApiParameter("cursor", str, required=False), OpenApiParameter("page_size", int, required=False)],
        responses={200: paginated(s.AuditEventOut, cursor=True), **error_responses(400, 401, 403, 404)},
        operation_id="audit_events_list",
        summary="The business's audit log, newest first (cursor-paginated)",
        description="Who changed what: config and secret changes (secrets only as set/changed), verifications, "
        "members, wallet adjustments, webhook endpoints and secret rotations. Owners only. "
        "An invalid `cursor` is a 404.",
        tags=["audit"],
    )
    def get(self, request):
        filters = s.AuditFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestFirstByTimeCursorPagination()
        qs = audit_events(business=request.tenant.business, **filters.validated_data)
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.AuditEventOut(page, many=True).data)
