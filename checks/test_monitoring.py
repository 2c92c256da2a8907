"""5.1 시스템 모니터링: Prometheus, Grafana, Alertmanager; the plan's metrics (CPU/GPU, memory, disk I/O,
network; API response time, error rate, throughput, concurrent users) and the database exporters are
scraped and fresh; the alert rules are loaded and Alertmanager routes them to a receiver."""
from __future__ import annotations

import re
from typing import Optional

from plancheck.controls import control
from plancheck.evaluate import Check, not_here
from plancheck.facts.containers import ContainersFacts
from plancheck.facts.grafana import GrafanaFacts
from plancheck.facts.monitoring import MonitoringFacts, Route, metric_key
from plancheck.profile.models import Metric, Profile

MON = "5.1 시스템 모니터링 (monitoring)"


def _host(instance: str) -> str:
    return instance.rsplit(":", 1)[0] if ":" in instance else instance


@control("MON-001", title="Prometheus is up and answering its API", severity="critical", section=MON,
         rationale="Every other monitoring control and every alert depends on it.",
         remediation="Start Prometheus and check its logs and TLS configuration.",
         reads=("monitoring.components",))
def test_prometheus_up(check: Check, monitoring_facts: MonitoringFacts) -> None:
    ready = check.fact(monitoring_facts.prometheus_ready)
    check.that(ready.startswith("HTTP 200"), expected="HTTP 200 (ready)", found=ready,
               what=f"Prometheus readiness ({monitoring_facts.source}/-/ready)")


@control("MON-002", title="Scrape job is configured and every target is up", severity="high", section=MON,
         rationale="A target that is down means its metrics and alerts are blind.",
         remediation="Start the exporter/service, and fix its TLS or network path from Prometheus.",
         reads=("monitoring.scrape_jobs", "monitoring.scrape_targets"))
def test_scrape_job(check: Check, monitoring_facts: MonitoringFacts, scrape_job: str, profile: Profile) -> None:
    job = monitoring_facts.scrape_jobs.get(scrape_job)
    if job is None or not job.targets:
        check.fail(f"job {scrape_job}: no targets in {monitoring_facts.scrape_source}")
    hosts = {_host(t.instance) for t in job.targets}  # type: ignore[union-attr]
    check.none_of([h for h in profile.monitoring.scrape_targets.get(scrape_job, []) if h not in hosts],
                  what=f"required targets missing from job {scrape_job}", expected_text="all present")
    if not all(check.observed(t.health) for t in job.targets):  # type: ignore[union-attr]
        return  # static mode: the configured targets are the desired state's whole evidence
    down = []
    for t in job.targets:  # type: ignore[union-attr]
        health = t.health
        if health != "up":
            down.append(f"{t.instance} {health}" + (f" ({t.last_error[:120]})" if t.last_error else ""))
    check.none_of(down, what=f"targets of job {scrape_job} not up", expected_text="all up")


@control("MON-003", title="Metric family the plan requires is collected with recent samples", severity="high",
         section=MON, rationale="The plan's metrics (CPU/GPU, memory, disk I/O, network, API response time, "
         "error rate, throughput, concurrent users, databases) must exist and be current to alert on.",
         remediation="Expose the metric (exporter, application instrumentation) from the job the profile names.",
         reads=("monitoring.metrics", "monitoring.sample_max_age"))
def test_metric(check: Check, monitoring_facts: MonitoringFacts, metric: Metric, profile: Profile) -> None:
    if metric.requires_gpu and not profile.gpu_required:
        not_here(f"{metric.title}: no GPUs on this platform (profile gpu_required: false)")
    seen = check.fact(monitoring_facts.metrics).get(metric_key(metric.job, metric.family))
    window = monitoring_facts.metrics_window_s
    age: Optional[float] = seen.newest_age_s if seen else None
    check.that(age is not None and age <= window, expected=f"a sample younger than {window:g}s",
               found="no sample" if age is None else f"newest sample {age:.0f}s old",
               what=f"{metric.title}: {metric.family}{{job=\"{metric.job}\"}}")


@control("MON-004", title="Alert rule the profile requires is loaded", severity="high", section=MON,
         rationale="Without the rule, the condition it watches never pages anyone.",
         remediation="Add the rule to a file under the rule_files of prometheus.yml and reload Prometheus.",
         reads=("monitoring.alert_rules",))
def test_alert_rule(check: Check, monitoring_facts: MonitoringFacts, alert_rule: str) -> None:
    rule = monitoring_facts.rules.get(alert_rule)
    check.that(rule is not None, expected="loaded", found="loaded" if rule is not None else "absent",
               what=f"alert {alert_rule} ({monitoring_facts.rules_source})")
    check.that(rule.health in ("", "ok", "unknown"), expected="health ok", found=rule.health,  # type: ignore[union-attr]
               what=f"alert {alert_rule} evaluation")


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    m = re.fullmatch(r'([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)"?(.*?)"?', matcher)
    if not m:
        return False
    name, op, value = m.groups()
    have = labels.get(name, "")
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    hit = re.fullmatch(value, have) is not None
    return hit if op == "=~" else not hit


def route_receivers(route: Route, labels: dict[str, str], inherited: str = "") -> list[str]:
    """Alertmanager's routing: the deepest matching routes (first match wins unless `continue`)."""
    receiver = route.receiver or inherited
    out: list[str] = []
    for child in route.routes:
        if all(_matches(m, labels) for m in child.matchers):
            out += route_receivers(child, labels, receiver)
            if not child.continue_:
                break
    return out or [receiver]


@control("MON-005", title="Alertmanager has a receiver and a route for the alerts", severity="high", section=MON,
         rationale="A loaded rule whose alert routes nowhere pages nobody.",
         remediation="Define receivers in alertmanager.yml and a route (root receiver) that reaches them.",
         reads=("monitoring.alertmanager_receivers", "monitoring.alert_rules"))
def test_alert_routing(check: Check, monitoring_facts: MonitoringFacts, profile: Profile) -> None:
    am = check.fact(monitoring_facts.alertmanager)
    check.at_least(len(am.receivers), profile.monitoring.alertmanager_receivers,
                   what=f"receivers ({monitoring_facts.alertmanager_source})")
    if am.route is None or not am.route.receiver:
        check.fail(f"no root route with a receiver in {monitoring_facts.alertmanager_source}")
    unrouted = []
    for name in profile.monitoring.alert_rules:
        rule = monitoring_facts.rules.get(name)
        labels = {"alertname": name, **(rule.labels if rule else {})}
        for r in route_receivers(am.route, labels):  # type: ignore[arg-type]
            if r not in am.receivers:
                unrouted.append(f"{name} -> {r or 'no receiver'}")
    check.none_of(unrouted, what="alerts routed to an undefined receiver")


@control("MON-006", title="Grafana has a healthy Prometheus data source", severity="medium", section=MON,
         rationale="Grafana is the plan's dashboard tool; without the data source every panel is empty.",
         remediation="Provision the Prometheus data source (provisioning/datasources) and check it from Grafana.",
         reads=("monitoring.components",))
def test_grafana_datasource(check: Check, grafana_facts: GrafanaFacts, profile: Profile) -> None:
    check.equal(check.fact(grafana_facts.database), "ok", what="Grafana database (/api/health)")
    want = profile.monitoring.grafana.datasource_type
    sources = [d for d in check.fact(grafana_facts.datasources) if d.type == want]
    check.that(bool(sources), expected=f"a {want} data source", found=[d.type for d in grafana_facts.datasources],  # type: ignore[union-attr]
               what="data sources")
    check.none_of([f"{d.name}: {d.health} {d.message}".strip() for d in sources if d.health not in ("", "OK")],
                  what=f"unhealthy {want} data sources")


@control("MON-007", title="Grafana has the dashboards the profile lists", severity="low", section=MON,
         rationale="The plan's metrics are watched through dashboards.",
         remediation="Provision the dashboards (provisioning/dashboards).",
         reads=("monitoring.grafana.dashboards",))
def test_grafana_dashboards(check: Check, grafana_facts: GrafanaFacts, profile: Profile) -> None:
    have = check.fact(grafana_facts.dashboards)
    check.that(bool(have), expected="at least one dashboard", found="none", what="dashboards")
    check.none_of([t for t in profile.monitoring.grafana.dashboards if t not in have], what="missing dashboards")


@control("MON-008", title="The scrape job each planned metric comes from is configured", severity="high",
         section=MON, rationale="The plan's metric lists (시스템: CPU/GPU 사용률, 메모리, 디스크 I/O, 네트워크 수신/송신; "
         "애플리케이션: API 응답시간, 에러율, 처리량, 동시접속자) are only collected if the job the profile names for "
         "each one is scraped: in the desired state before a change, and running.",
         remediation="Add the job (and its exporter) to prometheus.yml: e.g. job dcgm for GPU utilisation on the GPU "
         "host (config/prometheus/prometheus.gpu.yml).",
         reads=("monitoring.metrics",))
def test_metric_job(check: Check, monitoring_facts: MonitoringFacts, metric: Metric, profile: Profile) -> None:
    if metric.requires_gpu and not profile.gpu_required:
        not_here(f"{metric.title}: no GPUs on this platform (profile gpu_required: false)")
    job = monitoring_facts.scrape_jobs.get(metric.job)
    check.that(job is not None and bool(job.targets), expected=f"job {metric.job} with at least one target",
               found=f"{len(job.targets)} targets" if job else "no such job",
               what=f"{metric.title} ({metric.family}) in {monitoring_facts.scrape_source}")


@control("MON-009", title="Monitoring tool of the plan is deployed", severity="high", section=MON,
         rationale="The plan's 모니터링 도구 are Prometheus, Grafana and Alertmanager: each must be a service of the "
         "compose project (desired state) and running (live).",
         remediation="Define the tool as a compose service (compose.yaml) and start it.",
         reads=("monitoring.components",))
def test_monitoring_component(check: Check, containers: ContainersFacts, component: str) -> None:
    c = containers.containers.get(component)
    check.that(c is not None, expected="a service of the compose project", found="defined" if c else "absent",
               what=f"{component} ({containers.source})")
    if check.observed(c.running):  # type: ignore[union-attr]
        check.is_true(c.running, what=f"{component} running", expected_text="running",  # type: ignore[union-attr]
                      found_text="stopped")


def reachable_receivers(route: Route) -> list[str]:
    """Every receiver some alert can be routed to: the root's and each sub-route's (inherited if unset)."""
    out: list[str] = []

    def walk(r: Route, inherited: str) -> None:
        name = r.receiver or inherited
        if name and name not in out:
            out.append(name)
        for child in r.routes:
            walk(child, name)

    walk(route, "")
    return out


@control("MON-010", title="Every receiver alerts can reach delivers them somewhere", severity="high", section=MON,
         rationale="A receiver without an integration (webhook, email, ...) accepts alerts and tells no one: the "
         "plan's Alertmanager must page someone for every route.",
         remediation="Give each receiver reachable from the route tree at least one integration (webhook_configs, "
         "email_configs, ...) in alertmanager.yml.",
         reads=("monitoring.components",))
def test_alert_delivery(check: Check, monitoring_facts: MonitoringFacts) -> None:
    am = check.fact(monitoring_facts.alertmanager)
    if am.route is None:
        check.fail(f"no root route in {monitoring_facts.alertmanager_source}")
    # an undefined receiver is MON-005's finding; here: the defined ones alerts can reach
    names = [n for n in reachable_receivers(am.route) if n in am.receivers]  # type: ignore[arg-type]
    check.none_of([f"{n} (no integration)" for n in names if not am.receivers[n]],
                  what=f"receivers without an integration ({monitoring_facts.alertmanager_source})",
                  expected_text="at least one integration each", among=len(names), noun="reachable receivers")
