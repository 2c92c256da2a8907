"""The alert drill (5.1 알림, proven delivered): one test alert is posted to Alertmanager's API and
the audit waits until the receiver's sink reports it arrived. It proves the whole path the
configuration checks cannot: Alertmanager routes it, its webhook integration connects (TLS, client
certificate) and the receiver accepts it.

It writes to the platform (one alert, labelled `plancheck_drill` with a run id, ending by itself a
few minutes later), so it runs only when asked for (`--alert-drill`), like the restore drill: the
nightly audit stays read-only. Live only; static mode has none."""
from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any, Optional

import requests

from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, register

ALERTNAME = "PlancheckAlertDrill"


class AlertDrillFacts(Facts):
    drill_id: str
    sent_at: float
    delivered_after_s: Optional[float] = None  # None: not seen at the sink within the wait
    receiver: str = ""  # the receiver named in the notification that carried it
    sink: str = ""  # where delivery was observed
    waited_s: float = 0.0
    notifications_seen: int = 0


def _post_alert(api: Any, labels: dict[str, str], ends_in_s: int) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    body = [{"labels": labels,
             "annotations": {"summary": "plancheck alert drill: a test alert, ends by itself"},
             "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(seconds=ends_in_s)).isoformat()}]
    url = api.base + "/api/v2/alerts"
    try:
        r = api.session.post(url, json=body, timeout=api.timeout)
    except requests.RequestException as e:
        raise FactError(f"alert drill: cannot post to {url}: {type(e).__name__}: {str(e).splitlines()[0][:160]}") from None
    if r.status_code != 200:
        raise FactError(f"alert drill: POST {url} answered HTTP {r.status_code}: {r.text.strip()[:160]}")


def find_delivery(doc: Any, drill_id: str) -> Optional[dict[str, Any]]:
    """The sink's notification that carried the drill's alert (GET /alerts of the baseline's sink:
    {"notifications": [{"received_at", "receiver", "alerts": [{"labels"}]}]}), or None."""
    if not isinstance(doc, dict) or not isinstance(doc.get("notifications"), list):
        raise FactError("alert drill: the sink's answer is not a list of notifications")
    for n in doc["notifications"]:
        for a in (n.get("alerts") or []) if isinstance(n, dict) else []:
            if isinstance(a, dict) and (a.get("labels") or {}).get("plancheck_drill") == drill_id:
                return n
    return None


@register
class AlertDrillSource(FactSource):
    name = "alert_drill"
    model = AlertDrillFacts

    def static(self, ctx: Context) -> AlertDrillFacts:
        raise NoSource("alert drill: needs the running Alertmanager (live only)")

    def deadline_s(self, ctx: Context) -> float:
        return float(ctx.profile.monitoring.alert_drill.wait_s) + 30.0

    def live(self, ctx: Context) -> AlertDrillFacts:
        from plancheck.facts.httpapi import Api

        spec = ctx.profile.monitoring.alert_drill
        if ctx.env.get("PLANCHECK_ALERT_DRILL") != "1":
            raise NoSource("alert drill not requested (opt-in: --alert-drill; it posts a test alert)")
        if not spec.sink_endpoint:
            raise NoSource("alert drill: the profile names no sink to observe delivery at "
                           "(monitoring.alert_drill.sink_endpoint)")
        for name in ("alertmanager", spec.sink_endpoint):
            if name not in ctx.profile.target.endpoints:
                raise FactError(f"alert drill: the profile's target names no {name} endpoint")
        drill_id = uuid.uuid4().hex[:16]
        labels = {"alertname": ALERTNAME, "severity": spec.severity, "plancheck_drill": drill_id}
        am, sink = Api(ctx, "alertmanager"), Api(ctx, spec.sink_endpoint)
        try:
            sent = time.time()
            _post_alert(am, labels, ends_in_s=spec.alert_lifetime_s)
            deadline = time.monotonic() + spec.wait_s
            seen: Optional[dict[str, Any]] = None
            count = 0
            while True:
                doc = sink.get(spec.sink_path)
                count = len(doc.get("notifications") or []) if isinstance(doc, dict) else 0
                seen = find_delivery(doc, drill_id)
                seen_at = time.time()
                if seen is not None or time.monotonic() >= deadline:
                    break
                time.sleep(1.0)
        finally:
            am.close()
            sink.close()
        # the sink's own receipt time; a sink that gives none: when this audit saw it there (an upper bound)
        received = seen.get("received_at") if seen else None
        arrived = float(received) if isinstance(received, (int, float)) else seen_at
        return AlertDrillFacts(
            source=f"{am.base}/api/v2/alerts -> {sink.base}{spec.sink_path}", drill_id=drill_id, sent_at=sent,
            delivered_after_s=(arrived - sent) if seen is not None else None,
            receiver=str(seen.get("receiver") or "") if seen else "", sink=f"{sink.base}{spec.sink_path}",
            waited_s=round(time.time() - sent, 2), notifications_seen=count)

