"""Monitoring facts (5.1): Prometheus scrape jobs and their targets, the metric families the plan
requires, the alerting rules, Alertmanager's receivers and routing tree.

static: prometheus.yml, the rule files and alertmanager.yml of the desired state
        (target.config_files keys `prometheus`, `prometheus-rules`, `alertmanager`);
live:   Prometheus' HTTP API (/api/v1/status/buildinfo, /api/v1/targets, /api/v1/rules,
        /api/v1/query) and Alertmanager's (/api/v2/status: the loaded configuration).
"""
from __future__ import annotations

import glob
import time
from typing import Any, Optional, Union

import yaml
from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.profile.models import Profile

LIVE_ONLY = "no static source: only the running Prometheus knows"


class ScrapeTarget(BaseModel):
    instance: str
    health: Union[str, Unavailable]  # up / down / unknown
    last_error: str = ""


class ScrapeJob(BaseModel):
    targets: list[ScrapeTarget]


class MetricSeen(BaseModel):
    job: str
    family: str
    newest_age_s: Optional[float]  # None: no sample inside the window


class AlertRule(BaseModel):
    group: str
    file: str = ""
    labels: dict[str, str] = {}
    health: str = ""  # live: ok / err / unknown


class Route(BaseModel):
    receiver: Optional[str] = None  # None: inherited from the parent
    matchers: list[str] = []  # normalised: 'name="v"', 'name=~"re"', 'name!="v"', 'name!~"re"'
    continue_: bool = False
    routes: list["Route"] = []


class AlertmanagerConfig(BaseModel):
    receivers: dict[str, list[str]]  # receiver -> integrations configured (email_configs, ...)
    route: Optional[Route]


class MonitoringFacts(Facts):
    prometheus_ready: Union[str, Unavailable]  # what GET /-/ready answered: "HTTP 200: ... is Ready."
    prometheus_version: Union[str, Unavailable]
    scrape_jobs: dict[str, ScrapeJob]
    scrape_source: str = ""
    metrics: Union[dict[str, MetricSeen], Unavailable]  # key "job/family"
    metrics_window_s: float = 300
    rules: dict[str, AlertRule]  # alert name -> rule
    rules_source: str = ""
    alertmanager: Union[AlertmanagerConfig, Unavailable]
    alertmanager_source: str = ""


def metric_key(job: str, family: str) -> str:
    return f"{job}/{family}"


# --- parsing (shared by static and live) -----------------------------------------------------------
def _matchers(route: dict[str, Any]) -> list[str]:
    out = [str(m).replace(" ", "") for m in route.get("matchers") or []]
    out += [f'{k}="{v}"' for k, v in (route.get("match") or {}).items()]
    out += [f'{k}=~"{v}"' for k, v in (route.get("match_re") or {}).items()]
    return out


def _route(r: dict[str, Any]) -> Route:
    return Route(receiver=r.get("receiver"), matchers=_matchers(r), continue_=bool(r.get("continue", False)),
                 routes=[_route(x) for x in r.get("routes") or []])


def parse_alertmanager(text: str, origin: str) -> AlertmanagerConfig:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise FactError(f"{origin}: not valid YAML: {str(e).splitlines()[0]}") from None
    receivers = {str(r.get("name")): sorted(k for k, v in r.items() if k.endswith("_configs") and v)
                 for r in data.get("receivers") or []}
    route = _route(data["route"]) if isinstance(data.get("route"), dict) else None
    return AlertmanagerConfig(receivers=receivers, route=route)


def parse_rules(text: str, origin: str) -> dict[str, AlertRule]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise FactError(f"{origin}: not valid YAML: {str(e).splitlines()[0]}") from None
    out = {}
    for g in data.get("groups") or []:
        for r in g.get("rules") or []:
            if "alert" in r:
                out[str(r["alert"])] = AlertRule(group=str(g.get("name", "")), file=origin,
                                                 labels={k: str(v) for k, v in (r.get("labels") or {}).items()})
    return out


def parse_prometheus(text: str, origin: str) -> dict[str, ScrapeJob]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise FactError(f"{origin}: not valid YAML: {str(e).splitlines()[0]}") from None
    reason = "no static source: only the running Prometheus knows whether a target is up"
    jobs = {}
    for sc in data.get("scrape_configs") or []:
        targets = [ScrapeTarget(instance=str(t), health=Unavailable(reason=reason))
                   for st in sc.get("static_configs") or [] for t in st.get("targets") or []]
        jobs[str(sc.get("job_name"))] = ScrapeJob(targets=targets)
    return jobs


def required_metrics(profile: Profile) -> list[tuple[str, str]]:
    return [(m.job, m.family) for group in profile.monitoring.metrics.values() for m in group]


# --- the source ------------------------------------------------------------------------------------
@register
class MonitoringSource(FactSource):
    name = "monitoring"
    model = MonitoringFacts

    def static(self, ctx: Context) -> MonitoringFacts:
        files = ctx.profile.target.config_files
        if not files.get("prometheus"):
            raise NoSource("monitoring: the profile's target names no prometheus.yml")
        jobs: dict[str, ScrapeJob] = {}
        for f in files["prometheus"]:
            jobs.update(parse_prometheus(ctx.read_text(f), str(ctx.path(f))))
        rules: dict[str, AlertRule] = {}
        rule_files = [p for pattern in files.get("prometheus-rules", [])
                      for p in sorted(glob.glob(str(ctx.path(pattern))))]
        for f in rule_files:
            for name, rule in parse_rules(ctx.read_text(f), f).items():
                rules[name] = rule
        am: Union[AlertmanagerConfig, Unavailable] = Unavailable(
            reason="the profile's target names no alertmanager.yml")
        if files.get("alertmanager"):
            am = parse_alertmanager(ctx.read_text(files["alertmanager"][0]), files["alertmanager"][0])
        u = Unavailable(reason=LIVE_ONLY)
        return MonitoringFacts(
            source="prometheus and alertmanager config files", prometheus_ready=u, prometheus_version=u,
            scrape_jobs=jobs, scrape_source=", ".join(files["prometheus"]), metrics=u,
            rules=rules, rules_source=", ".join(rule_files) or "no rule files",
            alertmanager=am, alertmanager_source=", ".join(files.get("alertmanager", [])))

    def live(self, ctx: Context) -> MonitoringFacts:
        from plancheck.facts.httpapi import Api

        if "prometheus" not in ctx.profile.target.endpoints:
            raise NoSource("monitoring: the profile's target names no prometheus endpoint")
        prom = Api(ctx, "prometheus")
        try:
            ready = prom.probe("/-/ready")
            build = prom.get("/api/v1/status/buildinfo")
            version = str((build.get("data") or {}).get("version", "?"))
            jobs = _live_targets(prom.get("/api/v1/targets", {"state": "active"}))
            rules = _live_rules(prom.get("/api/v1/rules", {"type": "alert"}))
            window = ctx.profile.monitoring.sample_max_age * 86400
            metrics = {}
            for job, family in required_metrics(ctx.profile):
                metrics[metric_key(job, family)] = MetricSeen(
                    job=job, family=family, newest_age_s=_newest_age(prom, job, family, window))
        finally:
            prom.close()
        am: Union[AlertmanagerConfig, Unavailable] = Unavailable(
            reason="the profile's target names no alertmanager endpoint")
        am_source = ""
        if "alertmanager" in ctx.profile.target.endpoints:
            api = Api(ctx, "alertmanager")
            try:
                status = api.get("/api/v2/status")
            finally:
                api.close()
            am_source = f"{api.base}/api/v2/status"
            am = parse_alertmanager(str((status.get("config") or {}).get("original", "")), am_source)
        return MonitoringFacts(
            source=prom.base, prometheus_ready=ready, prometheus_version=version, scrape_jobs=jobs,
            scrape_source=f"{prom.base}/api/v1/targets", metrics=metrics, metrics_window_s=window,
            rules=rules, rules_source=f"{prom.base}/api/v1/rules", alertmanager=am,
            alertmanager_source=am_source)


def _live_targets(doc: dict[str, Any]) -> dict[str, ScrapeJob]:
    jobs: dict[str, ScrapeJob] = {}
    for t in (doc.get("data") or {}).get("activeTargets") or []:
        labels = t.get("labels") or {}
        job = str(labels.get("job") or t.get("scrapePool") or "")
        jobs.setdefault(job, ScrapeJob(targets=[])).targets.append(ScrapeTarget(
            instance=str(labels.get("instance", t.get("scrapeUrl", ""))), health=str(t.get("health", "unknown")),
            last_error=str(t.get("lastError") or "")))
    return jobs


def _live_rules(doc: dict[str, Any]) -> dict[str, AlertRule]:
    out = {}
    for g in (doc.get("data") or {}).get("groups") or []:
        for r in g.get("rules") or []:
            if r.get("type", "alerting") == "alerting":
                out[str(r.get("name"))] = AlertRule(
                    group=str(g.get("name", "")), file=str(g.get("file", "")),
                    labels={k: str(v) for k, v in (r.get("labels") or {}).items()},
                    health=str(r.get("health", "")))
    return out


def _newest_age(prom: Any, job: str, family: str, window_s: float) -> Optional[float]:
    """Seconds since the family's newest sample from `job`, looking back `window_s` (a stale series,
    e.g. of a stopped exporter, stops contributing samples at once)."""
    w = max(int(window_s), 30)
    sel = f'{{__name__="{family}",job="{job}"}}'
    doc = prom.get("/api/v1/query", {"query": f"time() - max(max_over_time(timestamp({sel})[{w}s:15s]))",
                                     "time": f"{time.time():.3f}"})
    result = (doc.get("data") or {}).get("result") or []
    if not result:
        return None
    return max(0.0, float(result[0]["value"][1]))
