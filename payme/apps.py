from django.apps import AppConfig


class PaymeConfig(AppConfig):
    name = "payme"
    verbose_name = "Platform"

    def ready(self):
        from payme import checks  # noqa: F401  (registers the system checks)
