from django.urls import re_path

from payme.urlpatterns import UUID_RE
from wallet import apis

urlpatterns = [
    re_path(r"^wallet-payment/initiate/?$", apis.PurchaseInitiateApi.as_view(), name="wallet-payment-initiate"),
    re_path(rf"^wallet-payment/(?P<purchase_id>{UUID_RE})/?$", apis.PurchaseDetailApi.as_view(), name="wallet-payment-detail"),
    re_path(rf"^wallet-payment/(?P<purchase_id>{UUID_RE})/timeline/?$", apis.PurchaseTimelineApi.as_view(), name="wallet-payment-timeline"),
    re_path(r"^wallet-payment/?$", apis.PurchaseListApi.as_view(), name="wallet-payment-list"),
    re_path(r"^wallet/entries/?$", apis.WalletEntriesApi.as_view(), name="wallet-entries"),
    re_path(r"^wallet/?$", apis.WalletApi.as_view(), name="wallet"),
]
