from django.urls import re_path

from payme.urlpatterns import UUID_RE
from sales import apis

urlpatterns = [
    re_path(r"^products/?$", apis.ProductListApi.as_view(), name="products"),
    re_path(rf"^products/(?P<product_id>{UUID_RE})/?$", apis.ProductDetailApi.as_view(), name="product-detail"),
    re_path(r"^sales/payment/?$", apis.SalePaymentApi.as_view(), name="sales-payment"),
    re_path(r"^sales/invoice/?$", apis.SaleInvoiceApi.as_view(), name="sales-invoice"),
    re_path(r"^c2b-payments/?$", apis.C2BPaymentListApi.as_view(), name="c2b-payments"),
    re_path(rf"^c2b-payments/(?P<payment_id>{UUID_RE})/?$", apis.C2BPaymentDetailApi.as_view(), name="c2b-payment-detail"),
    re_path(rf"^c2b-payments/(?P<payment_id>{UUID_RE})/match/?$", apis.C2BPaymentMatchApi.as_view(), name="c2b-payment-match"),
    re_path(r"^sales/?$", apis.SaleListApi.as_view(), name="sales"),
    re_path(rf"^sales/(?P<sale_id>{UUID_RE})/?$", apis.SaleDetailApi.as_view(), name="sale-detail"),
    re_path(rf"^sales/(?P<sale_id>{UUID_RE})/timeline/?$", apis.SaleTimelineApi.as_view(), name="sale-timeline"),
]
