"""The shipped Prometheus rules are valid and fire on the series PayMe exports (promtool, from
Debian's `prometheus` package; .ci/run provides it, PROMTOOL names another binary)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"


def promtool():
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; or set PROMTOOL)")
    return found


def test_promtool_check_rules_passes():
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 13 rules found" in result.stdout


def test_the_alerts_fire_on_our_series():
    result = subprocess.run([promtool(), "test", "rules", str(RULES.with_name("alerts_test.yml"))], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_links_a_runbook_section_that_exists():
    readme = (ROOT / "README.md").read_text()
    anchors = set(re.findall(r"README\.md#(runbook-[a-z0-9-]+)", RULES.read_text()))
    assert anchors == {"runbook-daraja-is-failing", "runbook-a-customer-says-they-paid", "runbook-the-workers-are-behind",
                       "runbook-a-wallet-does-not-match-its-ledger", "runbook-the-api-answers-5xx",
                       "runbook-webhook-endpoints-are-failing"}
    headings = {"runbook-" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^### Runbook: (.+)$", readme, re.M)}
    assert anchors <= headings, anchors - headings
