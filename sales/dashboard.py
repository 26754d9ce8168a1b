"""The owner's business at a glance, for the admin index. Reads only; always given the business
(None means the whole platform, for superusers)."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Business
from mpesa.models import C2BReceipt, StkPush
from payment_configs.models import PaymentConfig
from sales.models import Sale
from wallet.models import Wallet

CHART_DAYS = 14


@dataclass
class DayBar:
    day: date
    total: int
    count: int
    height: int = 0  # pixels in the 110-pixel chart area
    x: int = 0
    y: int = 0


@dataclass
class Dashboard:
    title: str
    wallet_balance: int | None  # None for the whole platform: wallets belong to businesses
    today_total: int
    today_count: int
    week_total: int
    week_count: int
    pending_prompts: int
    review_count: int
    config_state: str
    config_detail: str
    bars: list[DayBar] = field(default_factory=list)
    chart_max: int = 0
    business_count: int | None = None  # the whole platform only
    payout_state: str = ""  # a business only: its B2C utility balance, as last reported
    payout_detail: str = ""


def _scope(qs, business):
    return qs if business is None else qs.filter(business=business)


def build_dashboard(business) -> Dashboard:
    now = timezone.localtime()
    today = now.date()
    week_start = today - timedelta(days=today.weekday())
    paid = _scope(Sale.objects.filter(status=Sale.Status.PAID), business)
    first_day = today - timedelta(days=CHART_DAYS - 1)
    per_day = {
        row["day"]: row
        for row in paid.filter(paid_at__date__gte=first_day)
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(total=Sum("amount"), count=Count("id"))
    }
    # "Paid today" is all money in: C2B payments that paid no sale (unmatched, left, or whole-KES
    # ones in review) count beside the paid sales; a matched one is already its sale.
    c2b = (
        _scope(C2BReceipt.objects.filter(amount__isnull=False).exclude(status=C2BReceipt.Status.MATCHED), business)
        .annotate(at=Coalesce("trans_time", "created_at"))
    )
    for row in (
        c2b.filter(at__date__gte=first_day).annotate(day=TruncDate("at")).values("day").annotate(total=Sum("amount"), count=Count("id"))
    ):
        day = per_day.setdefault(row["day"], {"total": 0, "count": 0})
        day["total"] = int(day.get("total") or 0) + int(row["total"] or 0)
        day["count"] = int(day.get("count") or 0) + int(row["count"] or 0)
    bars = [
        DayBar(day=d, total=int(per_day.get(d, {}).get("total") or 0), count=int(per_day.get(d, {}).get("count") or 0))
        for d in (first_day + timedelta(days=i) for i in range(CHART_DAYS))
    ]
    chart_max = max((b.total for b in bars), default=0)
    for index, bar in enumerate(bars):
        bar.height = round(110 * bar.total / chart_max) if chart_max else 0
        bar.x = index * 40 + 6
        bar.y = 120 - bar.height
    today_row = per_day.get(today, {})
    week = paid.filter(paid_at__date__gte=week_start).aggregate(total=Sum("amount"), count=Count("id"))
    week_c2b = c2b.filter(at__date__gte=week_start).aggregate(total=Sum("amount"), count=Count("id"))
    week = {"total": int(week["total"] or 0) + int(week_c2b["total"] or 0), "count": int(week["count"] or 0) + int(week_c2b["count"] or 0)}

    business_count = None
    if business is None:
        # Every business's tokens summed is nobody's balance: the platform shows businesses instead.
        wallet_balance = None
        business_count = Business.objects.count()
        configs = PaymentConfig.objects.filter(is_active=True)
        config_state = f"{configs.filter(verified=True).count()} of {configs.count()} verified"
        config_detail = "Tills and paybills in use"
        title = "All businesses"
    else:
        wallet_balance = Wallet.objects.filter(business=business).values_list("balance", flat=True).first() or 0
        config = PaymentConfig.objects.filter(business=business, is_active=True).first()
        if config is None:
            config_state, config_detail = "Not set up", "Set up your Till or Paybill to start charging customers."
        else:
            number = f"Till {config.till_number}" if config.method == "till" else f"Paybill {config.shortcode}"
            config_state = f"{number}: {config.get_verification_status_display()}"
            config_detail = config.verification_message
        title = business.name
        payout_state, payout_detail = _payout_card(business)
    return Dashboard(
        title=title,
        wallet_balance=wallet_balance,
        today_total=int(today_row.get("total") or 0),
        today_count=int(today_row.get("count") or 0),
        week_total=int(week["total"] or 0),
        week_count=int(week["count"] or 0),
        pending_prompts=_scope(StkPush.objects.filter(status__in=StkPush.OPEN_STATUSES), business).count(),
        review_count=_scope(Sale.objects.filter(needs_review=True), business).count(),
        config_state=config_state,
        config_detail=config_detail,
        bars=bars,
        chart_max=chart_max,
        business_count=business_count,
        payout_state=payout_state if business is not None else "",
        payout_detail=payout_detail if business is not None else "",
    )


def _payout_card(business) -> tuple[str, str]:
    from payouts.models import Payout, PayoutConfig

    config = PayoutConfig.objects.filter(business=business, is_active=True).first()
    if config is None:
        return "Not set up", "Set up your B2C shortcode and initiator to pay out and refund."
    waiting = Payout.objects.filter(business=business, status=Payout.Status.AWAITING_APPROVAL).count()
    waiting_text = f"{waiting} awaiting approval. " if waiting else ""
    if config.balance is None:
        return f"B2C {config.shortcode}", f"{waiting_text}Balance not asked yet (POST /api/payout-config/balance)."
    when = timezone.localtime(config.balance_at).strftime("%d %b %H:%M") if config.balance_at else ""
    return f"KES {config.balance:,.2f}", f"{waiting_text}B2C {config.shortcode}, as of {when}."
