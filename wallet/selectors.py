from django.db.models import BigIntegerField, Case, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

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


def _signed_tokens():
    return Case(When(kind=WalletEntry.Kind.CREDIT, then=F("tokens")), default=-F("tokens"))


def ledger_sum(wallet: Wallet) -> int:
    total = WalletEntry.objects.filter(wallet=wallet).aggregate(total=Sum(_signed_tokens()))["total"]
    return int(total or 0)


def wallet_mismatches():
    """Wallets whose cached balance differs from the sum of their entries: [(wallet, ledger)].
    One query, however many wallets (the sums are computed by the database)."""
    ledger = (
        WalletEntry.objects.filter(wallet=OuterRef("pk")).order_by().values("wallet")
        .annotate(total=Sum(_signed_tokens())).values("total")
    )
    wallets = (
        Wallet.objects.select_related("business")
        .annotate(ledger=Coalesce(Subquery(ledger), Value(0), output_field=BigIntegerField()))
        .exclude(balance=F("ledger"))
        .order_by("pk")
    )
    return [(w, int(w.ledger)) for w in wallets]


def token_purchase_timeline(*, business, purchase: TokenPurchase) -> list:
    """A token purchase's story, oldest first: started (and by whom), its push's M-Pesa steps, the
    ledger credit. Built from the rows we keep."""
    from mpesa.selectors import TimelineStep, ordered, push_timeline

    who = f" by {purchase.created_by.full_name or purchase.created_by.email}" if purchase.created_by_id else ""
    steps = [TimelineStep(purchase.created_at, "created",
                          f"Purchase of {purchase.tokens:,} tokens for KES {purchase.amount:,} from {purchase.phone} started{who}.")]
    steps += push_timeline(purchase.push)
    for entry in WalletEntry.objects.filter(business=business, reference=f"purchase:{purchase.public_id}"):
        steps.append(TimelineStep(entry.created_at, "wallet", f"{entry.tokens:,} tokens credited to the wallet (balance {entry.balance_after:,})."))
    return ordered(steps)
