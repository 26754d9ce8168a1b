from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    verbose_name = "Payouts and refunds"

    def ready(self):
        from mpesa.commands import register_command_purpose
        from payouts import services
        from payouts.selectors import initiator_for_command

        for purpose in (services.PURPOSE_PAYOUT, services.PURPOSE_REFUND):
            register_command_purpose(purpose, on_change=services.on_payout_command_change, initiator_for=initiator_for_command)
        register_command_purpose(services.PURPOSE_BALANCE, on_change=services.on_balance_command_change,
                                 initiator_for=initiator_for_command)

        from mpesa.simulator import registry
        from payouts import simulator

        registry.register_initiators(simulator.initiators)
