from django.apps import AppConfig


class PaymeConfig(AppConfig):
    name = "payme"
    verbose_name = "Platform"

    def ready(self):
        from django_structlog import signals as structlog_signals

        from payme import (
            checks,  # noqa: F401  (registers the system checks)
            observability,
        )

        structlog_signals.bind_extra_request_metadata.connect(observability.on_request_started, dispatch_uid="payme-rid-start")
        structlog_signals.bind_extra_request_finished_metadata.connect(observability.on_request_finished, dispatch_uid="payme-rid-end")
        structlog_signals.update_failure_response.connect(observability.on_request_failed, dispatch_uid="payme-rid-fail")
