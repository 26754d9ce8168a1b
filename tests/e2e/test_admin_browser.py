"""A real browser (Debian's headless Chromium) at 1366×768 logs into the admin as the demo owner and
opens each page an owner uses at the counter. Each page is saved to tests/artifacts/ and must show
what the owner came for, without scrolling sideways (the window, or a table inside it)."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from payment_configs.models import PaymentConfig
from sales.dashboard import build_dashboard
from sales.models import Sale
from wallet.models import Wallet, WalletEntry

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"
OWNER, PASSWORD = "owner@demo.payme.local", "Demo-owner-2026"

# Everything wider than its box: the page itself, or an element that scrolls its own content
# sideways (Django's changelist wraps the results table in one: the page fits, the table does not).
SIDEWAYS = """
const wide = [];
if (document.documentElement.scrollWidth > window.innerWidth) wide.push('the page: ' + document.documentElement.scrollWidth + 'px');
for (const el of document.querySelectorAll('body *')) {
  const style = getComputedStyle(el);
  if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
    wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className + ': ' + el.scrollWidth + '>' + el.clientWidth);
  }
}
return wide;
"""


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium is not installed here (apt-get install chromium chromium-driver); .ci/run installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1366,768"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    # A 1366×768 window; the page gets its width (its height is what is left below the browser's bar).
    assert driver.execute_script("return window.innerWidth") == 1366
    yield driver
    driver.quit()


@pytest.fixture
def demo(live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.MPESA_CALLBACK_URL = f"{live_server.url}/api/daraja/callback"
    settings.MPESA_BASE_URL = f"{live_server.url}/simulator/daraja"
    settings.SIMULATOR_CALLBACK_DELAY = 0.3
    call_command("seed_demo", stdout=StringIO())
    return live_server


def sign_in(browser, base):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(OWNER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "payme-dashboard")))


def look(browser, name):
    """Save what the owner sees and check nothing scrolls sideways."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
    assert browser.execute_script(SIDEWAYS) == [], name


def on_screen(browser, element):
    """Displayed and inside the 1366-px window, not off its right edge."""
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", element)
    return element.is_displayed() and rect[0] >= 0 and rect[1] <= browser.execute_script("return window.innerWidth")


def test_owner_sees_the_business_at_a_glance_in_a_real_browser(demo, browser):
    from selenium.webdriver.common.by import By

    owner = User.objects.get(email=OWNER)
    expected = build_dashboard(owner.membership.business)
    assert expected.week_total > 0 or sum(bar.total for bar in expected.bars) > 0

    sign_in(browser, demo.url)
    look(browser, "admin-index")

    assert browser.find_element(By.ID, "index-title").text == "Your business"
    assert browser.find_element(By.ID, "payme-dashboard-title").text == "Mama Njeri's Shop at a glance"
    assert browser.find_element(By.ID, "dash-wallet").text == f"{expected.wallet_balance} tokens"
    assert browser.find_element(By.ID, "dash-week").text == f"KES {expected.week_total:,}"
    assert browser.find_element(By.ID, "dash-today").text == f"KES {expected.today_total:,}"
    assert browser.find_element(By.ID, "dash-config").text == "Till 1234567: Verified"
    bars = browser.find_elements(By.CSS_SELECTOR, "#dash-chart rect.dash-bar")
    assert [int(b.get_attribute("data-total")) for b in bars] == [bar.total for bar in expected.bars]
    assert sum(1 for b in bars if float(b.get_attribute("height")) > 0) == sum(1 for bar in expected.bars if bar.total)


def test_owner_pages_at_a_shop_counter(demo, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    business = User.objects.get(email=OWNER).membership.business
    sign_in(browser, demo.url)

    # The sales list: newest first, every reason on screen, no business column.
    browser.get(f"{demo.url}/admin/sales/sale/")
    look(browser, "admin-sales")
    newest_first = list(Sale.objects.filter(business=business).order_by("-created_at", "-id"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, ".field-amount_kes").text for r in rows] == [f"KES {s.amount:,}" for s in newest_first]
    not_paid = [s for s in newest_first if s.reason]
    assert not_paid, "the demo has failed and cancelled sales"
    for sale in not_paid:
        cell = rows[newest_first.index(sale)].find_element(By.CSS_SELECTOR, ".field-outcome")
        assert cell.text == sale.reason and on_screen(browser, cell)
    assert not browser.find_elements(By.CSS_SELECTOR, ".column-business")

    # A sale that was not paid: what happened and when, in plain words.
    failed = not_paid[0]
    rows[newest_first.index(failed)].find_element(By.CSS_SELECTOR, ".field-created a").click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".field-timeline")))
    look(browser, "admin-sale")
    page = browser.find_element(By.ID, "content").text
    assert failed.reason in page and "When:" in page
    assert "review_reason" not in page and "Stock state" not in page

    # The ad-hoc parking sale: no empty items table.
    parking = Sale.objects.get(business=business, account_reference="SLOT5")
    browser.get(f"{demo.url}/admin/sales/sale/{parking.pk}/change/")
    look(browser, "admin-sale-ad-hoc")
    assert "A typed amount, no products." in browser.find_element(By.ID, "content").text
    assert not browser.find_elements(By.ID, "sale-items")

    # The Till: plain words, the passkey's state without the passkey, and the Verify action.
    config = PaymentConfig.objects.get(business=business, is_active=True)
    browser.get(f"{demo.url}/admin/payment_configs/paymentconfig/{config.pk}/change/")
    look(browser, "admin-config")
    page = browser.find_element(By.ID, "content").text
    assert "Store number or paybill number" in page and "STK Password" not in page and "PartyB" not in page
    assert browser.find_element(By.CSS_SELECTOR, ".field-passkey_state .readonly").text == "Stored"
    assert not browser.find_elements(By.NAME, "_addanother")
    verify = browser.find_element(By.ID, "verify-config")
    assert on_screen(browser, verify) and verify.text.lower() == "verify with a kes 1 prompt"
    verify.click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "verify-form")))
    look(browser, "admin-config-verify")
    browser.find_element(By.ID, "verify-send").click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li")))
    assert browser.find_element(By.CSS_SELECTOR, "ul.messagelist li").text.startswith("A KES 1 prompt is on its way to 254708374149.")

    # The wallet: the balance, the latest ledger entries, and a way to top up.
    browser.get(f"{demo.url}/admin/wallet/wallet/")
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "ledger")))
    look(browser, "admin-wallet")
    wallet = Wallet.objects.get(business=business)
    assert browser.find_element(By.ID, "wallet-balance").text == f"{wallet.balance:,} tokens"
    entries = list(WalletEntry.objects.filter(wallet=wallet).order_by("-id")[:15])
    shown = browser.find_elements(By.CSS_SELECTOR, "#ledger tr.ledger-entry")
    assert entries and [r.find_element(By.CSS_SELECTOR, ".tokens").text for r in shown] == [f"{e.signed_tokens:+,}" for e in entries]
    assert on_screen(browser, browser.find_element(By.ID, "buy-tokens"))

    # "View site": a landing page, not DEBUG's 404.
    browser.find_element(By.LINK_TEXT, "VIEW SITE").click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "link-admin")))
    look(browser, "landing")
    assert browser.find_element(By.ID, "link-docs").get_attribute("href") == f"{demo.url}/api/docs"
    assert "simulator/daraja/" in browser.find_element(By.ID, "simulator").text
