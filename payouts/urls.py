from django.urls import re_path

from payme.urlpatterns import UUID_RE
from payouts import apis

urlpatterns = [
    re_path(r"^payout-config/setup/?$", apis.PayoutConfigSetupApi.as_view(), name="payout-config-setup"),
    re_path(r"^payout-config/balance/?$", apis.PayoutConfigBalanceApi.as_view(), name="payout-config-balance"),
    re_path(r"^payout-config/?$", apis.PayoutConfigApi.as_view(), name="payout-config"),
    re_path(r"^payouts/?$", apis.PayoutListApi.as_view(), name="payouts"),
    re_path(rf"^payouts/(?P<payout_id>{UUID_RE})/?$", apis.PayoutDetailApi.as_view(), name="payout-detail"),
    re_path(rf"^payouts/(?P<payout_id>{UUID_RE})/timeline/?$", apis.PayoutTimelineApi.as_view(), name="payout-timeline"),
    re_path(rf"^payouts/(?P<payout_id>{UUID_RE})/approve/?$", apis.PayoutApproveApi.as_view(), name="payout-approve"),
    re_path(rf"^payouts/(?P<payout_id>{UUID_RE})/reject/?$", apis.PayoutRejectApi.as_view(), name="payout-reject"),
    re_path(rf"^sales/(?P<sale_id>{UUID_RE})/refunds/?$", apis.SaleRefundsApi.as_view(), name="sale-refunds"),
]
