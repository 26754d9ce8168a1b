from django.apps import AppConfig


class PaymentConfigsConfig(AppConfig):
    name = "payment_configs"
    verbose_name = "Payment configs"

    def ready(self):
        from mpesa.models import StkPush
        from mpesa.services import register_purpose
        from payment_configs.selectors import credentials_for_push
        from payment_configs.services import on_verification_push_change

        register_purpose(
            StkPush.Purpose.CONFIG_VERIFICATION,
            on_change=on_verification_push_change,
            credentials_for=credentials_for_push,
        )

        from mpesa.c2b import register_c2b
        from payment_configs.selectors import credentials_for_c2b

        register_c2b(credentials_for=credentials_for_c2b)

        from mpesa.simulator import registry
        from payment_configs import simulator

        registry.register_shortcodes(simulator.shortcodes)
        registry.register_apps(simulator.app_secrets)
