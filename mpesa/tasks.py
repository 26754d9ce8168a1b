"""Celery tasks that talk to Daraja: thin doors into mpesa.services (STYLE.md 17).

They take ids, never model instances, and are never retried automatically: the services decide
whether there is anything to do (a claim by conditional UPDATE), so a task delivered twice does
nothing the second time, and a POST that can prompt a phone is never sent again.
"""

from celery import shared_task

from mpesa import services


@shared_task(name="mpesa.stk_push_send", ignore_result=True)
def stk_push_send_task(push_id: int) -> None:
    services.stk_push_send(push_id=push_id)


@shared_task(name="mpesa.stk_push_confirm", ignore_result=True)
def stk_push_confirm_task(push_id: int) -> None:
    services.stk_push_confirm(push_id=push_id)


@shared_task(name="mpesa.stk_push_sweep", ignore_result=True)
def stk_push_sweep_task() -> dict:
    return services.stk_push_sweep()


@shared_task(name="mpesa.stk_push_reconcile", ignore_result=True)
def stk_push_reconcile_task() -> dict:
    return services.stk_push_reconcile()


@shared_task(name="mpesa.c2b_registration_send", ignore_result=True)
def c2b_registration_send_task(registration_id: int) -> None:
    from mpesa.c2b import c2b_registration_send

    c2b_registration_send(registration_id=registration_id)

@shared_task(name="mpesa.daraja_command_send", ignore_result=True)
def daraja_command_send_task(command_id: int) -> None:
    from mpesa.commands import daraja_command_send

    daraja_command_send(command_id=command_id)


@shared_task(name="mpesa.daraja_command_sweep", ignore_result=True)
def daraja_command_sweep_task() -> dict:
    from mpesa.commands import daraja_command_sweep

    return daraja_command_sweep()


@shared_task(name="mpesa.daraja_command_reconcile", ignore_result=True)
def daraja_command_reconcile_task() -> dict:
    from mpesa.commands import daraja_command_reconcile

    return daraja_command_reconcile()
