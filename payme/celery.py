"""The worker tier: one Celery app for every app's tasks (DESIGN.md, "Where work runs").

Web requests never call Daraja: they write rows and enqueue work on commit. Workers run the
Daraja calls and the scheduled jobs (beat). Tasks live in each app's ``tasks.py``.
"""

import os

from celery import Celery
from django_structlog.celery.steps import DjangoStructLogInitStep

import payme.broker  # noqa: F401  (registers the embedded:// transport of `make run`)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payme.settings")

app = Celery("payme")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each task runs with the request id (and business id) of the request that enqueued it, and
# its log lines say so (django-structlog's worker receivers).
app.steps["worker"].add(DjangoStructLogInitStep)
