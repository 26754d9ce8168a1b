from django.urls import re_path

from payme.urlpatterns import UUID_RE
from webhooks import apis

urlpatterns = [
    re_path(r"^webhooks/endpoints/?$", apis.EndpointListApi.as_view(), name="webhook-endpoints"),
    re_path(rf"^webhooks/endpoints/(?P<endpoint_id>{UUID_RE})/?$", apis.EndpointDetailApi.as_view(), name="webhook-endpoint"),
    re_path(rf"^webhooks/endpoints/(?P<endpoint_id>{UUID_RE})/rotate-secret/?$", apis.EndpointRotateSecretApi.as_view(), name="webhook-endpoint-rotate"),
    re_path(rf"^webhooks/endpoints/(?P<endpoint_id>{UUID_RE})/test/?$", apis.EndpointTestApi.as_view(), name="webhook-endpoint-test"),
    re_path(r"^webhooks/deliveries/replay/?$", apis.DeliveryReplaySinceApi.as_view(), name="webhook-deliveries-replay"),
    re_path(r"^webhooks/deliveries/?$", apis.DeliveryListApi.as_view(), name="webhook-deliveries"),
    re_path(rf"^webhooks/deliveries/(?P<delivery_id>{UUID_RE})/?$", apis.DeliveryDetailApi.as_view(), name="webhook-delivery"),
    re_path(rf"^webhooks/deliveries/(?P<delivery_id>{UUID_RE})/replay/?$", apis.DeliveryReplayApi.as_view(), name="webhook-delivery-replay"),
]
