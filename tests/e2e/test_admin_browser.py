"""A real browser (Debian's headless Chromium) logs into the admin as the demo owner and looks at
the index: the business's numbers and the 14-day chart must be on the page a person sees."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from sales.dashboard import build_dashboard

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "tests" / "artifacts" / "admin-index.png"


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium is not installed here (apt-get install chromium chromium-driver); .ci/run installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_owner_sees_the_business_at_a_glance_in_a_real_browser(live_server, settings, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    owner = User.objects.get(email="owner@demo.payme.local")
    expected = build_dashboard(owner.membership.business)
    assert expected.week_total > 0 or sum(bar.total for bar in expected.bars) > 0

    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("owner@demo.payme.local")
    browser.find_element(By.NAME, "password").send_keys("Demo-owner-2026")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "payme-dashboard")))

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT)) and SCREENSHOT.stat().st_size > 10_000
    assert browser.find_element(By.ID, "payme-dashboard-title").text == "Mama Njeri's Shop at a glance"
    assert browser.find_element(By.ID, "dash-wallet").text == f"{expected.wallet_balance} tokens"
    assert browser.find_element(By.ID, "dash-week").text == f"KES {expected.week_total:,}"
    assert browser.find_element(By.ID, "dash-today").text == f"KES {expected.today_total:,}"
    assert browser.find_element(By.ID, "dash-config").text == "Till 1234567: Verified"
    bars = browser.find_elements(By.CSS_SELECTOR, "#dash-chart rect.dash-bar")
    assert [int(b.get_attribute("data-total")) for b in bars] == [bar.total for bar in expected.bars]
    assert sum(1 for b in bars if float(b.get_attribute("height")) > 0) == sum(1 for bar in expected.bars if bar.total)
