from django.conf import settings
from django.core.management.base import BaseCommand

from mpesa.services import stk_push_reconcile


class Command(BaseCommand):
    help = (
        "Resolve STK pushes still open after --older-than seconds with an STK query; expire those "
        "older than --expire-after. Safe to run concurrently and from cron (e.g. every minute)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=settings.MPESA_RECONCILE_AFTER_SECONDS)
        parser.add_argument("--expire-after", type=int, default=settings.MPESA_PENDING_EXPIRY_SECONDS)
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, older_than, expire_after, limit, **options):
        counts = stk_push_reconcile(older_than_seconds=older_than, expire_after_seconds=expire_after, limit=limit)
        self.stdout.write(
            "reconcile: checked={checked} resolved={resolved} still_pending={still_pending} "
            "expired={expired} errors={errors} skipped={skipped}".format(**counts)
        )
