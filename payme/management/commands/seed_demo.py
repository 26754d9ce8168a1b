"""Demo data for `make run`: a platform superuser and a demo business with a verified Till,
products, paid and failed sales and a funded wallet; and a second business with a verified
paybill (the sandbox's 174379) whose customers pay invoices from the phone menu (C2B): one invoice
already paid that way, one open for the person trying the demo to pay with the simulator.
Idempotent: a second run creates nothing twice. Each run asks a worker to register the paybill's
C2B URLs again (the simulator forgets them when `make run` stops) and, when the open invoice was
paid or expired, opens a new one.

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
from sales.services import invoice_create, product_create, sale_create
from wallet.services import token_purchase_create

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@payme.local", "PayMe-admin-2026"
OWNER_EMAIL, OWNER_PASSWORD = "owner@demo.payme.local", "Demo-owner-2026"
CASHIER_EMAIL, CASHIER_PASSWORD = "cashier@demo.payme.local", "Demo-cashier-2026"
BUSINESS_NAME = "Mama Njeri's Shop"
OWNER_PHONE = "254708374149"
STORE_NUMBER, TILL_NUMBER = "7654321", "1234567"
PAYBILL_OWNER_EMAIL, PAYBILL_OWNER_PASSWORD = "owner@hardware.payme.local", "Demo-hardware-2026"
PAYBILL_BUSINESS_NAME = "Baraka Hardware"
PAYBILL_OWNER_PHONE = "254708374149"
PAYBILL_SHORTCODE = "174379"  # the public sandbox paybill: the simulator knows its passkey
PAYBILL_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
PAID_INVOICE_AMOUNT, OPEN_INVOICE_AMOUNT = 2450, 1200
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


def _verify(business, config, phone):
    """Verified the way the API verifies: a KES 1 push whose success marks the config."""
    from payment_configs.services import on_verification_push_change  # noqa: F401  (handler is registered)
    with transaction.atomic():
        push = StkPush.objects.create(
            business=business, purpose=StkPush.Purpose.CONFIG_VERIFICATION, environment=settings.MPESA_ENV,
            shortcode=config.shortcode, party_b=config.party_b, transaction_type=config.transaction_type,
            amount=1, phone=phone, account_reference=config.account_reference, description="Verify PayMe",
            callback_token=secrets.token_hex(32),
        )
        config.last_verification_push = push
        config.save(update_fields=["last_verification_push"])
    _settle(push, "0", "The service request is processed successfully.")


class Command(BaseCommand):
    help = "Create the demo superuser and business (idempotent)."

    def handle(self, *args, **options):
        if not User.objects.filter(email=ADMIN_EMAIL).exists():
            User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, full_name="Platform Admin")
        if not User.objects.filter(email=OWNER_EMAIL).exists():
            self._create_demo_business()
        self._ensure_payout_config()
        created = not User.objects.filter(email=PAYBILL_OWNER_EMAIL).exists()
        if created:
            self._create_paybill_business()
        open_invoice = self._ensure_paybill_c2b(register=not created)
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Platform superuser: {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
        self.stdout.write(f"  Demo owner:         {OWNER_EMAIL} / {OWNER_PASSWORD}")
        self.stdout.write(f"  Demo cashier:       {CASHIER_EMAIL} / {CASHIER_PASSWORD}")
        self.stdout.write(f"  Paybill demo owner: {PAYBILL_OWNER_EMAIL} / {PAYBILL_OWNER_PASSWORD}"
                          f"  (paybill {PAYBILL_SHORTCODE}, open invoice {open_invoice.account_number}"
                          f" of KES {open_invoice.amount})")
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
        _verify(business, config, OWNER_PHONE)

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

    def _create_paybill_business(self):
        """The paybill business, with one invoice paid from the phone menu: the confirmation Daraja
        would post goes through the same parsing and recording as the callback view's."""
        from mpesa.c2b import c2b_receipt_record, parse_confirmation
        from mpesa.models import C2BRegistration
        from payment_configs.services import payment_config_c2b_register

        membership = business_sign_up(
            email=PAYBILL_OWNER_EMAIL, password=PAYBILL_OWNER_PASSWORD, full_name="Baraka Otieno",
            business_name=PAYBILL_BUSINESS_NAME, phone=PAYBILL_OWNER_PHONE,
        )
        business: Business = membership.business
        config = payment_config_setup(
            business=business, method="paybill", shortcode=PAYBILL_SHORTCODE, passkey=PAYBILL_PASSKEY,
            account_reference="Baraka", account_name=PAYBILL_BUSINESS_NAME,
        )
        _verify(business, config, PAYBILL_OWNER_PHONE)
        product_create(business=business, name="Cement 50kg", sku="CEM-50", price=750, stock=40)
        product_create(business=business, name="Nails 1kg", sku="NAIL-1KG", price=200, stock=25)
        registration = payment_config_c2b_register(business=business)
        invoice = invoice_create(business=business, amount=PAID_INVOICE_AMOUNT, description="Roofing nails and cement",
                                 user=membership.user)
        paid_at = timezone.localtime(timezone.now() - timedelta(hours=2))
        body = {
            "TransactionType": "Pay Bill", "TransID": "D" + secrets.token_hex(5).upper()[:9],
            "TransTime": paid_at.strftime("%Y%m%d%H%M%S"), "TransAmount": f"{PAID_INVOICE_AMOUNT}.00",
            "BusinessShortCode": PAYBILL_SHORTCODE, "BillRefNumber": invoice.account_number, "InvoiceNumber": "",
            "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 678",
            "FirstName": "JOHN", "MiddleName": "", "LastName": "DOE",
        }
        registration = C2BRegistration.objects.get(pk=registration.pk)
        c2b_receipt_record(registration=registration, payment=parse_confirmation(body, registration), raw=body)

    def _ensure_paybill_c2b(self, *, register: bool) -> Sale:
        """Register the paybill's C2B URLs again (a worker does it once `make run` is up) and keep
        one open invoice to pay from the simulator's phone menu. Returns the open invoice."""
        from payment_configs.services import payment_config_c2b_register

        membership = Membership.objects.filter(user__email=PAYBILL_OWNER_EMAIL).select_related("business", "user").first()
        business = membership.business
        if register:  # a new business was just queued for registration
            payment_config_c2b_register(business=business)
        open_invoice = (
            Sale.objects.filter(business=business, channel=Sale.Channel.C2B, status=Sale.Status.AWAITING_PAYMENT,
                                expires_at__gt=timezone.now()).order_by("-created_at").first()
        )
        if open_invoice is None:
            open_invoice = invoice_create(business=business, amount=OPEN_INVOICE_AMOUNT, description="Pay me from the phone menu",
                                          user=membership.user)
        return open_invoice
