"""5.1 알림, proven delivered: the alert drill (opt-in: `--alert-drill` or `-m alert_drill`). One test
alert is posted to Alertmanager and must arrive at the receiver's sink within the profile's wait.
See plancheck/facts/alert_drill.py for what it writes and why it is opt-in."""
from __future__ import annotations

import pytest

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.alert_drill import AlertDrillFacts
from plancheck.profile.models import Profile

MON = "5.1 시스템 모니터링 (monitoring)"


@pytest.mark.alert_drill
@control("MON-011", title="A test alert reaches the on-call receiver (alert drill)", severity="high", section=MON,
         rationale="Configuration checks (MON-004/005/010) show where alerts should go; only an alert seen "
         "arriving proves that routing, the integration's TLS and credentials, and the receiver work.",
         remediation="Read Alertmanager's log (notify errors name the integration); check the receiver's URL, "
         "its certificate and client certificate, and that the sink is up.",
         reads=("monitoring.alert_drill",))
def test_alert_drill(check: Check, alert_drill_facts: AlertDrillFacts, profile: Profile,
                     record_property) -> None:  # type: ignore[no-untyped-def]
    d = alert_drill_facts
    wait = profile.monitoring.alert_drill.wait_s
    record_property("delivered_after_s", d.delivered_after_s)
    check.that(d.delivered_after_s is not None, what=f"test alert {d.drill_id}",
               expected=f"delivered to {d.sink} within {wait} s",
               found=(f"delivered after {d.delivered_after_s:.1f} s (receiver {d.receiver or '?'})"
                      if d.delivered_after_s is not None else
                      f"not delivered after {d.waited_s:.0f} s ({d.notifications_seen} other notification(s) at the sink)"))
    if d.delivered_after_s is not None:
        check.at_most(round(d.delivered_after_s, 1), wait, what="delivery time (s)")
