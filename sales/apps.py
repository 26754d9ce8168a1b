from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = "Sales"

    def ready(self):
        from mpesa.models import StkPush
        from mpesa.services import register_purpose
        from payment_configs.selectors import credentials_for_push
        from sales.services import on_sale_push_change

        register_purpose(StkPush.Purpose.SALE, on_change=on_sale_push_change, credentials_for=credentials_for_push)

        from mpesa.c2b import register_c2b
        from sales.services import invoice_account_open, on_c2b_receipt

        register_c2b(on_receipt=on_c2b_receipt, account_open=invoice_account_open)
