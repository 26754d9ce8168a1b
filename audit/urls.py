from django.urls import re_path

from audit import apis

urlpatterns = [
    re_path(r"^audit-events/?$", apis.AuditEventsApi.as_view(), name="audit-events"),
]
