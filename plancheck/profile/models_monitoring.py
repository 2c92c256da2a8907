"""The profile's 5. monitoring and logs section: metrics, scrape jobs, Grafana, the alert drill;
log classes and their retention, the collector, Elasticsearch ILM, Filebeat and Kibana.

Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from plancheck.profile.models_base import Days, Strict


# --- 5. monitoring and logs ---------------------------------------------------------------------
class Metric(Strict):
    title: str
    family: str
    job: str
    requires_gpu: bool = False


class Grafana(Strict):
    """Checked through Grafana's HTTP API when the profile names its endpoint."""
    endpoint: Optional[str] = None  # target.endpoints key; None: not checked live (said in the report)
    datasource_type: str = "prometheus"
    dashboards: list[str] = []  # dashboard titles that must exist


class AlertDrill(Strict):
    """The opt-in alert drill (--alert-drill, MON-011): a test alert posted to Alertmanager must reach
    the receiver's sink, observed at a target endpoint that lists what it received."""
    sink_endpoint: Optional[str] = None  # target.endpoints key of the receiver's sink; None: not observable
    sink_path: str = "/alerts"
    severity: str = "info"  # the test alert's severity label (routes by severity pick it up)
    wait_s: int = Field(default=60, ge=5, le=900)  # group_wait of its route plus delivery
    alert_lifetime_s: int = Field(default=300, ge=60, le=3600)  # endsAt: it resolves by itself


class Monitoring(Strict):
    components: list[str]
    scrape_jobs: list[str]
    metrics: dict[str, list[Metric]]
    alert_rules: list[str]
    alertmanager_receivers: int = 1
    scrape_targets: dict[str, list[str]] = {}  # job -> hosts that must be among its targets
    # planned container -> why no scrape job covers it (PLAN-014: a job named after it, a target of
    # scrape_targets, or a reason here)
    not_scraped: dict[str, str] = {}
    sample_max_age: Days = 5 / 1440  # a metric family's newest sample must be younger than this
    grafana: Grafana = Grafana()
    alert_drill: AlertDrill = AlertDrill()


class LogClass(Strict):
    title: str
    retention: Days


class LogCollector(Strict):
    """Where the collected logs are filed: <root>/<class>/..., inside the collector container."""
    container: str = "log-collector"
    root: str = "/var/log/plancheck"
    rotation: str = "logrotate"  # target.config_files / live_files key of the retention job's config
    router: str = "rsyslog"  # target.config_files / live_files key of the collector's config


class Elasticsearch(Strict):
    """ILM delete phases per class, checked through the REST API when the profile names the endpoint."""
    endpoint: Optional[str] = None  # target.endpoints key; None: not checked live (said in the report)
    ilm_policies: dict[str, str] = {}  # log class -> ILM policy name
    ilm_files: str = "elasticsearch-ilm"  # target.config_files key of the ILM policy files (<class>.json)


class Filebeat(Strict):
    """The plan's shipper (5.2 도구: Filebeat): what its desired-state config must hold (LOG-006/007)."""
    config: str = "filebeat"  # target.config_files key of filebeat.yml
    source_field: str = "log_source"  # fields.<this> of an input names the log source it ships
    class_field: str = "log_class"  # fields.<this> names the source's retention class
    tls_versions: list[str] = ["TLSv1.3"]  # output.elasticsearch.ssl.supported_protocols


class Kibana(Strict):
    config: str = "kibana"  # target.config_files key of kibana.yml
    tls_versions: list[str] = ["TLSv1.3"]  # server.ssl.supportedProtocols, elasticsearch.ssl.*


class Logs(Strict):
    tools: list[str]
    sources: dict[str, str]  # source -> log class
    classes: dict[str, LogClass]
    collector: LogCollector = LogCollector()
    # source -> file names (globs) in its class directory that show the source is collected
    evidence: dict[str, list[str]] = {}
    # source -> why this target cannot produce it (LOG-001: its route is checked, its files are not)
    not_shipped: dict[str, str] = {}
    # planned container -> the log source its logs are collected as (PLAN-015) ...
    container_sources: dict[str, str] = {}
    # ... or why they are not (kept only by the container log driver)
    not_collected: dict[str, str] = {}
    elasticsearch: Elasticsearch = Elasticsearch()
    filebeat: Filebeat = Filebeat()
    kibana: Kibana = Kibana()
    # tool -> target.config_files key of its desired-state file(s) (LOG-010)
    tool_configs: dict[str, str] = {}
