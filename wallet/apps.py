from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet"

    def ready(self):
        from mpesa.models import StkPush
        from mpesa.services import register_purpose
        from wallet.services import on_topup_push_change, wallet_credentials_for_push

        register_purpose(
            StkPush.Purpose.WALLET_TOPUP,
            on_change=on_topup_push_change,
            credentials_for=wallet_credentials_for_push,
        )

        from mpesa.simulator import registry
        from wallet import simulator

        registry.register_shortcodes(simulator.shortcodes)
