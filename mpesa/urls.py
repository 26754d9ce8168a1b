from django.urls import re_path

from mpesa.callbacks import daraja_callback

# "mpesa", "query" and friends are forbidden in callback URLs, hence /api/daraja/callback/.
urlpatterns = [
    re_path(
        r"^daraja/callback/(?P<token>[A-Za-z0-9_\-]{1,128})/validation/?$",
        daraja_callback, {"kind": "validation"}, name="daraja-c2b-validation",
    ),
    re_path(r"^daraja/callback/(?P<token>[A-Za-z0-9_\-]{1,128})/?$", daraja_callback, name="daraja-callback"),
]
