"""The README's polling advice, the walkthrough's loop and the defaults agree (issue #13: the
advice said ~2 minutes while prompts expire at 180 s and the demo's late payment comes at 240 s)."""

import re
from pathlib import Path

from django.conf import settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_walkthrough_polls_in_a_loop_longer_than_a_prompt_can_stay_pending():
    walkthrough = README[README.index("## Your first payment with curl"):README.index("### Following a payment")]
    loop = re.search(r"for _ in \$\(seq 1 (\d+)\); do.*?sleep (\d+)", walkthrough, re.S)
    assert loop, "step 3 must poll in a loop"
    polled_for = int(loop.group(1)) * int(loop.group(2))
    longest_pending = settings.MPESA_PENDING_EXPIRY_SECONDS + settings.MPESA_RECONCILE_INTERVAL_SECONDS + settings.MPESA_QUERY_INTERVAL_SECONDS
    assert polled_for >= longest_pending
    assert f"allows {polled_for} s" in README


def test_the_advice_quotes_the_defaults_it_depends_on():
    advice = README[README.index("How long to poll"):README.index("## The API at a glance")]
    assert f"`MPESA_PENDING_EXPIRY_SECONDS` ({settings.MPESA_PENDING_EXPIRY_SECONDS} s)" in advice
    assert f"{settings.MPESA_RECONCILE_INTERVAL_SECONDS:g} s" in advice
    assert f"pays {settings.SIMULATOR_LATE_CALLBACK_DELAY:g} s in, after expiry" in advice
    assert settings.SIMULATOR_LATE_CALLBACK_DELAY > settings.MPESA_PENDING_EXPIRY_SECONDS  # the demo shows a late payment
