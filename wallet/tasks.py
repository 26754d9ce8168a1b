"""Scheduled wallet checks (beat); ``manage.py check_wallets`` stays for operators."""

import logging

from celery import shared_task

from payme import metrics
from wallet.selectors import wallet_mismatches

logger = logging.getLogger(__name__)


@shared_task(name="wallet.check_wallets", ignore_result=True)
def check_wallets_task() -> int:
    """Log every wallet whose balance differs from its ledger (an operator's alarm); returns how many."""
    mismatches = wallet_mismatches()
    metrics.wallets_checked(len(mismatches))
    for wallet, ledger in mismatches:
        logger.error("Wallet %s of business %s: balance=%s ledger=%s", wallet.pk, wallet.business_id, wallet.balance, ledger)
    return len(mismatches)
