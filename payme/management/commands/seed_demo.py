"""Demo data for `make run`: a platform superuser and a demo business with a verified Till,
products, paid and failed sales and a funded wallet. Idempotent: a second run changes nothing.

Money moves only through the real services: pushes are recorded by the same functions the API
uses, and their results are applied through ``stk_push_apply_result`` (so handlers credit the
wallet and commit stock exactly as a callback would). Only the Daraja round trip is skipped.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Business, Membership, User
from accounts.services import business_sign_up, member_add
from mpesa.models import StkPush
from mpesa.services import PushResult, stk_push_apply_result
from payment_configs.services import payment_config_setup
from sales.models import Product, Sale
from sales.services import product_create, sale_create
from wallet.services import token_purchase_create

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@payme.local", "PayMe-admin-2026"
OWNER_EMAIL, OWNER_PASSWORD = "owner@demo.payme.local", "Demo-owner-2026"
CASHIER_EMAIL, CASHIER_PASSWORD = "cashier@demo.payme.local", "Demo-cashier-2026"
BUSINESS_NAME = "Mama Njeri's Shop"
OWNER_PHONE = "254708374149"
STORE_NUMBER, TILL_NUMBER = "7654321", "1234567"
PRODUCTS = [
    ("Unga 2kg", "UNGA-2KG", 230, 40),
    ("Sugar 1kg", "SUGAR-1KG", 180, 25),
    ("Milk 500ml", "MILK-500", 65, 60),
    ("Bread 400g", "BREAD-400", 70, 30),
    ("Cooking oil 1L", "OIL-1L", 390, 12),
]


def _settle(push: StkPush, code: str, desc: str, when=None):
    """Apply a result as a callback would, through the one apply function."""
    StkPush.objects.filter(pk=push.pk).update(
        status=StkPush.Status.PENDING, checkout_request_id=f"ws_CO_DEMO{secrets.token_hex(10)}"
    )
    result = PushResult(code, desc)
    if code == "0":
        result.receipt = "D" + secrets.token_hex(5).upper()[:9]
        result.amount = push.amount
        result.phone = push.phone
    stk_push_apply_result(push_id=push.pk, result=result)
    if when is not None:
        StkPush.objects.filter(pk=push.pk).update(created_at=when)


class Command(BaseCommand):
    help = "Create the demo superuser and business (idempotent)."

    def handle(self, *args, **options):
        if not User.objects.filter(email=ADMIN_EMAIL).exists():
            User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, full_name="Platform Admin")
        if not User.objects.filter(email=OWNER_EMAIL).exists():
            self._create_demo_business()
        self._ensure_payout_config()
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Platform superuser: {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
        self.stdout.write(f"  Demo owner:         {OWNER_EMAIL} / {OWNER_PASSWORD}")
        self.stdout.write(f"  Demo cashier:       {CASHIER_EMAIL} / {CASHIER_PASSWORD}")
        self.stdout.write("  Admin: http://127.0.0.1:8000/admin/   API docs: http://127.0.0.1:8000/api/docs")

    def _ensure_payout_config(self):
        """The sandbox's public B2C shortcode and initiator (the simulator knows them), so refunds
        and payouts work in `make run` with no credentials. Added to older demo databases too."""
        from payouts.models import PayoutConfig
        from payouts.services import payout_config_setup

        membership = Membership.objects.filter(user__email=OWNER_EMAIL).select_related("business").first()
        if membership is None or PayoutConfig.objects.filter(business=membership.business).exists():
            return
        payout_config_setup(
            business=membership.business, shortcode="600996", initiator_name="testapi", initiator_password="Safaricom999!*!",
            max_per_payout=70_000, daily_max=300_000, approval_threshold=10_000,
        )

    def _create_demo_business(self):
        membership = business_sign_up(
            email=OWNER_EMAIL, password=OWNER_PASSWORD, full_name="Njeri Wanjiku",
            business_name=BUSINESS_NAME, phone=OWNER_PHONE,
        )
        business: Business = membership.business
        member_add(business=business, email=CASHIER_EMAIL, password=CASHIER_PASSWORD, full_name="Otieno Cashier", role=Membership.Role.CASHIER)
        config = payment_config_setup(
            business=business, method="till", shortcode=STORE_NUMBER, till_number=TILL_NUMBER,
            passkey=secrets.token_hex(32), account_reference="MamaNjeri", account_name=BUSINESS_NAME,
        )
        # Verified the way the API verifies: a KES 1 push whose success marks the config.
        from payment_configs.services import on_verification_push_change  # noqa: F401  (handler is registered)
        with transaction.atomic():
            push = StkPush.objects.create(
                business=business, purpose=StkPush.Purpose.CONFIG_VERIFICATION, environment=settings.MPESA_ENV,
                shortcode=config.shortcode, party_b=config.party_b, transaction_type=config.transaction_type,
                amount=1, phone=OWNER_PHONE, account_reference=config.account_reference, description="Verify PayMe",
                callback_token=secrets.token_hex(32),
            )
            config.last_verification_push = push
            config.save(update_fields=["last_verification_push"])
        _settle(push, "0", "The service request is processed successfully.")

        purchase = token_purchase_create(business=business, phone=OWNER_PHONE, amount=500)
        _settle(purchase.push, "0", "The service request is processed successfully.")

        for name, sku, price, stock in PRODUCTS:
            product_create(business=business, name=name, sku=sku, price=price, stock=stock)
        products = {p.sku: p for p in Product.objects.filter(business=business)}
        now = timezone.now()
        customers = ["254712345678", "254722000111", "254733000222", "254110000333", "254798000444"]
        outcomes = [("0", "The service request is processed successfully.")] * 3 + [
            ("1032", "Request cancelled by user"), ("1", "The balance is insufficient for the transaction."),
        ]
        plan = [
            ([("UNGA-2KG", 2), ("MILK-500", 4)], 0),
            ([("SUGAR-1KG", 1), ("BREAD-400", 2)], 1),
            ([("OIL-1L", 1)], 2),
            ([("MILK-500", 2)], 3),
            ([("UNGA-2KG", 1), ("SUGAR-1KG", 1)], 5),
            ([("BREAD-400", 1)], 6),
            ([("MILK-500", 6)], 8),
            ([("OIL-1L", 2)], 11),
        ]
        for index, (lines, days_ago) in enumerate(plan):
            code, desc = outcomes[index % len(outcomes)]
            sale = sale_create(
                business=business, phone=customers[index % len(customers)],
                items=[{"product_id": products[sku].public_id, "quantity": qty} for sku, qty in lines],
                user=membership.user,
            )
            _settle(sale.push, code, desc)
            when = now - timedelta(days=days_ago, hours=index)
            Sale.objects.filter(pk=sale.pk).update(created_at=when)
            Sale.objects.filter(pk=sale.pk, status=Sale.Status.PAID).update(paid_at=when)
        parking = sale_create(business=business, phone="254711222333", amount=1141, account_reference="SLOT5", description="Parking", user=membership.user)
        _settle(parking.push, "0", "The service request is processed successfully.")
