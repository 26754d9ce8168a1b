from django.core.management.base import BaseCommand, CommandError

from payme import metrics
from wallet.models import Wallet
from wallet.selectors import wallet_mismatches


class Command(BaseCommand):
    help = "Verify balance == Σ ledger entries for every wallet; exits non-zero on any mismatch."

    def handle(self, *args, **options):
        mismatches = wallet_mismatches()
        metrics.wallets_checked(len(mismatches))
        for wallet, ledger in mismatches:
            self.stderr.write(f"MISMATCH {wallet.business} (wallet {wallet.pk}): balance={wallet.balance} ledger={ledger}")
        checked = Wallet.objects.count()
        if mismatches:
            raise CommandError(f"{len(mismatches)} of {checked} wallet(s) do not match their ledger.")
        self.stdout.write(self.style.SUCCESS(f"OK: {checked} wallet(s) match their ledger."))
