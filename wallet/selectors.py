from django.db.models import Case, F, Sum, When

from payme import sql
from wallet.models import TokenPurchase, Wallet, WalletEntry


def wallet_for(*, business) -> Wallet:
    wallet = sql.select_by(Wallet, business_id=business.pk)
    if wallet is None:
        wallet, _ = Wallet.objects.get_or_create(business=business)
    return wallet


def wallet_entries(*, business):
    return WalletEntry.objects.filter(business=business).select_related("author")


def token_purchases(*, business):
    return TokenPurchase.objects.filter(business=business).order_by("-created_at", "-id")


def token_purchase_get(*, business, public_id) -> TokenPurchase | None:
    return TokenPurchase.objects.filter(business=business, public_id=public_id).first()


def ledger_sum(wallet: Wallet) -> int:
    total = WalletEntry.objects.filter(wallet=wallet).aggregate(
        total=Sum(Case(When(kind=WalletEntry.Kind.CREDIT, then=F("tokens")), default=-F("tokens")))
    )["total"]
    return int(total or 0)


def wallet_mismatches():
    """Wallets whose cached balance differs from the sum of their entries: [(wallet, ledger)]."""
    return [(w, s) for w in Wallet.objects.select_related("business").order_by("pk") if (s := ledger_sum(w)) != w.balance]
