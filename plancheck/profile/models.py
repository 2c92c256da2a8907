"""Pydantic models of a profile. Unknown keys are errors (extra='forbid'); units are parsed here,
so checks only ever see bytes, days, Mbit/s and validated cron expressions."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from croniter import croniter
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from plancheck.profile.access import AccessControl
from plancheck.units import UnitError, looks_like_quantity, parse_duration, parse_rate_mbps, parse_size


def _size(v: object) -> int:
    try:
        return parse_size(v)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


def _days(v: object) -> float:
    try:
        return parse_duration(v)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


def _mbps(v: object) -> int:
    try:
        return parse_rate_mbps(v)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


def _cron(v: str) -> str:
    if not isinstance(v, str) or not croniter.is_valid(v):
        raise ValueError(f"invalid cron expression {v!r}: expected five fields such as '0 2 * * *'")
    return v


def _timezone(v: str) -> str:
    """An IANA time zone name the tz database knows (Asia/Seoul), never a path or a made-up zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {shown}: expected an IANA name such as Asia/Seoul or UTC") from None
    return v


def _setting(v: object) -> object:
    # A tunable that looks like a quantity ('48GB') must be a valid size: '48QB' is a typo, not text.
    if looks_like_quantity(v):
        _size(v)
    return v


Size = Annotated[int, BeforeValidator(_size)]
Days = Annotated[float, BeforeValidator(_days)]
Mbps = Annotated[int, BeforeValidator(_mbps)]
Cron = Annotated[str, AfterValidator(_cron)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Setting = Annotated[Union[bool, int, str], AfterValidator(_setting)]
Severity = Literal["critical", "high", "medium", "low"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- 1.1 hardware -------------------------------------------------------------------------------
class Cpu(Strict):
    # None: any (the reference deployment needs cores, not a vendor; the plan names Intel Xeon Scalable)
    vendor: Optional[str] = None
    family: Optional[str] = None
    # a regular expression the model string must match where the family alone is not precise enough
    # (Xeon Scalable: Bronze/Silver/Gold/Platinum/Max, and Xeon 6 with its 4-digit numbers)
    model_pattern: Optional[str] = None
    min_cores: int = 1


class Gpu(Strict):
    vendor: str = "NVIDIA"
    model: str
    count: int = Field(ge=0)
    memory: Size
    min_driver: str = "0"
    ecc: bool = True
    persistence: bool = True
    mig: bool = False
    pcie_generation: Optional[int] = None
    pcie_width: Optional[int] = None


class Disk(Strict):
    transport: str = "nvme"
    capacity: Size


class Network(Strict):
    speed: Optional[Mbps]  # None: any speed, the link only has to be up (a virtual NIC reports none)
    # kernel names, or "default-route" for whichever interface carries the default route
    interfaces: list[str] = []


class Hardware(Strict):
    bare_metal: bool = False  # 1.1 베어본 서버: no hypervisor or container between the platform and the host
    cpu: Cpu
    gpu: Gpu
    memory: Size
    storage: list[Disk]
    network: Network
    # Vendors sell decimal terabytes and kernels report binary ones; a real "4TB" NVMe shows ~3.64 TiB.
    capacity_tolerance: float = Field(default=0.1, ge=0, le=0.5)


# --- 1.2 allocations and 2.x containers --------------------------------------------------------
class Allocation(Strict):
    title: str
    zones: list[str]
    gpus: int = Field(ge=0)
    memory: Size
    storage: Size
    purposes: list[str] = []


class Zone(Strict):
    title: str
    networks: list[str]


class Port(Strict):
    port: int = Field(ge=1, le=65535)
    host_ip: str = "0.0.0.0"
    container_port: Optional[int] = None


class Container(Strict):
    zone: str
    memory: Size
    gpus: list[int] = []
    # a GPU metrics agent (DCGM exporter): sees every GPU to report on them and runs no GPU work, so
    # GPU-012 (no GPU outside the plan) does not apply to it; GPU-013 still watches its processes
    gpu_monitor: bool = False
    networks: Optional[list[str]] = None  # default: the zone's networks
    ports: list[Port] = []
    read_only: bool = True
    non_root: bool = True
    cap_add: list[str] = []
    allowed_host_mounts: list[str] = []  # forbidden host paths this container may mount read-only
    shares_network_of: Optional[str] = None  # a sidecar in another container's network namespace
    planned: bool = True  # False: a supporting container the plan does not size (gateway, exporters)
    skip_live: Optional[str] = None  # a reason why this container cannot run where the profile points


class LogPolicy(Strict):
    driver: str = "json-file"
    max_size: Size
    max_file: int = Field(ge=1)


class ContainerPolicy(Strict):
    restart: list[str]
    pids_limit_max: int = Field(ge=1)
    require_cpu_limit: bool = True
    no_new_privileges: bool = True
    drop_all_capabilities: bool = True
    forbidden_mounts: list[str]
    forbidden_image_tags: list[str] = ["latest"]
    log: LogPolicy


# --- 3.1 MariaDB, 3.2 Redis ---------------------------------------------------------------------
class MariaDBEncryption(Strict):
    key_management: str = "file_key_management"
    algorithm: str
    key_bits: int = 256
    variables: dict[str, Setting]


class MariaDB(Strict):
    container: str
    version: str
    variables: dict[str, Setting]
    hardening: dict[str, Setting]
    tls_versions: list[str]
    encryption: MariaDBEncryption
    audit_plugin: str = "server_audit"
    # event classes server_audit must log (server_audit_events): logins, schema changes, grants
    audit_events: list[str] = ["CONNECT", "QUERY_DDL", "QUERY_DCL"]
    x509_users: list[str]
    allowed_user_hosts: list[str] = ["localhost", "127.0.0.1", "::1", "%"]
    root_hosts: list[str] = ["localhost", "127.0.0.1", "::1"]
    # local superusers: root, and Debian's `mysql` (unix_socket, the datadir owner's maintenance account)
    admin_users: list[str] = ["root", "mysql"]


class RestoreDrill(Strict):
    """The restore drill's scratch container (never the live database): its limits."""
    memory: Size = 2 * 1024**3
    timeout_s: int = Field(default=1800, ge=60)
    max_rto: Optional[Days] = None  # a restore slower than this fails the drill (None: report only)


class Backup(Strict):
    tool: str
    container: str
    schedule: Cron
    timezone: TimeZone = "UTC"
    retention: Days
    incremental: bool
    max_age: Days = 26 / 24
    encryption: str = "AES-256"
    root: str = "/backups"  # where the backup container keeps the backups (its volume)
    config: str = "backup-config"  # target.config_files / live_files key of the job's settings
    crontab: str = "backup-crontab"  # target.config_files / live_files key of the crontab
    restore_drill: RestoreDrill = RestoreDrill()


class Redis(Strict):
    container: str
    version: str
    maxmemory: Size
    settings: dict[str, Setting]
    hardening: dict[str, Setting] = {}
    tls_required: bool = True
    protected_commands: list[str] = ["config", "flushall", "flushdb", "debug", "shutdown"]
    admin_users: list[str] = []  # users allowed to run the protected commands


# --- 4. security --------------------------------------------------------------------------------
class ExposedPort(Strict):
    port: int = Field(ge=1, le=65535)
    service: str
    protocols: list[str]


class TlsService(Strict):
    """A TLS endpoint proven live by real handshakes (4.1): the target endpoint it is reached at and
    how it is spoken to. `https`/`tls`/`redis`: direct TLS (scanned with sslyze); `mysql`: TLS after
    MySQL's SSLRequest (probed with nassl, sslyze cannot speak it)."""
    endpoint: str  # key of target.endpoints
    protocol: Literal["https", "tls", "redis", "mysql"] = "https"
    exposure: Literal["external", "internal"] = "internal"  # which of the version lists applies
    mtls: bool = True  # a client certificate from the platform CA is required
    san: Optional[str] = None  # DNS name the certificate must cover (default: the endpoint's server_name)
    path: str = "/"  # https: the request whose answer shows whether the client was let in
    hsts: bool = False  # https: Strict-Transport-Security must be sent
    websocket: Optional[str] = None  # https: a path that must upgrade to a WebSocket (wss://) and echo
    http_port: Optional[int] = None  # plaintext HTTP port that must be closed or redirect to https://


class Tls(Strict):
    external_versions: list[str]
    internal_versions: list[str]
    mtls: bool
    min_days_valid: int = 14
    cipher_suites: list[str] = []
    min_key_bits: dict[str, int] = {"RSA": 2048, "EC": 256}
    signature_algorithms: list[str] = ["sha256WithRSAEncryption", "sha384WithRSAEncryption",
                                       "sha512WithRSAEncryption", "ecdsa-with-SHA256", "ecdsa-with-SHA384",
                                       "ecdsa-with-SHA512", "ed25519", "ed448"]
    endpoints: dict[str, TlsService] = {}  # name -> endpoint checked by handshakes (TLS-0xx, MTLS-0xx)


class HostListener(Strict):
    """A host socket outside the plan that the profile tolerates (never a platform service)."""
    address: str = "0.0.0.0"
    port: int = Field(ge=1, le=65535)
    why: str


class Flow(Strict):
    """An allowed connection between containers: sources and destinations are container names or
    `zone:NAME`; ports default to every service port of the destination."""
    sources: list[str] = Field(alias="from")
    to: list[str]
    ports: list[int] = []
    required: bool = True  # True: must answer (SEG-001); False: tolerated, neither required nor forbidden
    why: str = ""


class Segmentation(Strict):
    """The reachability matrix between containers (SEG-0xx): every (source, destination:port) pair is
    forbidden unless a flow allows it."""
    service_ports: dict[str, list[int]]  # container -> TCP ports it serves inside the platform
    allowed: list[Flow]
    probe_timeout_s: float = Field(default=0.5, gt=0, le=10)


class WebServer(Strict):
    """An nginx front (the public gateway, the admin portal): its config key in target.config_files."""
    config: str
    container: str
    require_client_cert: bool
    upstream_mtls: bool
    hsts_min_age: int = 31536000
    headers: list[str] = ["X-Content-Type-Options", "X-Frame-Options"]


class Security(Strict):
    internal_networks: list[str] = []  # networks with no route to the outside (Docker `internal`)
    public_ports: list[ExposedPort]
    vpn_ports: list[ExposedPort]
    tls: Tls
    encryption_at_rest: str
    access_control: AccessControl = AccessControl()  # 4.2 접근 제어 (plancheck/profile/access.py)
    web: dict[str, WebServer] = {}
    host_listeners: list[HostListener] = []  # host sockets tolerated besides the published ports
    ignore_loopback_listeners: bool = True  # 127.0.0.0/8 and ::1 are not reachable from any vantage
    segmentation: Optional[Segmentation] = None


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


# --- beyond the plan: the Docker host and daemon (CIS Docker Benchmark sections 1-3) ------------
class DockerFileRule(Strict):
    """Who may own a daemon file or socket and the most permissive mode it may have (CIS 3.x)."""
    owner: str = "root"
    group: Optional[str] = "root"  # None: only the owner is checked (registry certificates, CIS 3.7)
    max_mode: str = "644"  # octal: no permission bit beyond these may be set


# docker-bench-security 1.6 numbering: which daemon files CIS 3.x holds to which owner and mode
_DOCKER_FILES: dict[str, dict[str, Any]] = {
    "docker.service": {"max_mode": "644"},
    "docker.socket": {"max_mode": "644"},
    "/etc/docker": {"max_mode": "755"},
    "certs.d": {"group": None, "max_mode": "444"},
    "tlscacert": {"max_mode": "444"},
    "tlscert": {"max_mode": "444"},
    "tlskey": {"max_mode": "400"},
    "docker.sock": {"group": "docker", "max_mode": "660"},
    "daemon.json": {"max_mode": "644"},
    "/etc/default/docker": {"max_mode": "644"},
    "/etc/sysconfig/docker": {"max_mode": "644"},
    "containerd.sock": {"max_mode": "660"},
}

# CIS 1.1.3-1.1.18 (docker-bench-security 1.6): the files and directories auditd must watch
_DOCKER_AUDIT_WATCHES: dict[str, str] = {
    "1.1.3": "/usr/bin/dockerd", "1.1.4": "/run/containerd", "1.1.5": "/var/lib/docker",
    "1.1.6": "/etc/docker", "1.1.7": "docker.service", "1.1.8": "containerd.sock",
    "1.1.9": "docker.socket", "1.1.10": "/etc/default/docker", "1.1.11": "/etc/docker/daemon.json",
    "1.1.12": "/etc/containerd/config.toml", "1.1.13": "/etc/sysconfig/docker",
    "1.1.14": "/usr/bin/containerd", "1.1.15": "/usr/bin/containerd-shim",
    "1.1.16": "/usr/bin/containerd-shim-runc-v1", "1.1.17": "/usr/bin/containerd-shim-runc-v2",
    "1.1.18": "/usr/bin/runc",
}


class DockerDaemon(Strict):
    """The Docker host and daemon the platform runs on (DKR-0xx): what the daemon must be configured
    to do, read from the running daemon (docker info, dockerd's command line, its daemon.json) and
    the host (mounts, auditd rules, file modes); statically from the desired daemon.json."""
    config: str = "docker-daemon"  # target.config_files key of the desired daemon.json
    separate_partition: bool = True  # 1.1.1: the daemon's root dir on a file system of its own
    trusted_users: list[str] = []  # 1.1.2: who may be in the docker group
    # 1.1.3-1.1.18: CIS id -> the path (or systemd unit / socket name) auditd must watch
    audit_watches: dict[str, str] = Field(default_factory=lambda: dict(_DOCKER_AUDIT_WATCHES))
    icc: bool = False  # 2.2: inter-container traffic on the default bridge
    log_level: str = "info"  # 2.3
    iptables: bool = True  # 2.4
    insecure_registries: list[str] = []  # 2.5: allowed (none)
    forbidden_storage_drivers: list[str] = ["aufs"]  # 2.6
    tcp_tlsverify: bool = True  # 2.7: a TCP socket, if any, verifies clients' certificates
    default_ulimits: list[str] = ["nofile"]  # 2.8: ulimits the daemon must set for every container
    userns_remap: bool = True  # 2.9
    cgroup_parent: Optional[str] = None  # 2.10: None: Docker's default cgroup parent
    authorization_plugin: bool = True  # 2.12
    log_drivers: list[str] = ["json-file"]  # 2.13: allowed default log drivers (the shipper reads json-file)
    no_new_privileges: bool = True  # 2.14
    live_restore: bool = True  # 2.15
    userland_proxy: bool = False  # 2.16
    seccomp: bool = True  # 2.17: a daemon-wide seccomp profile (Docker's default or a custom one)
    experimental: bool = False  # 2.18
    files: dict[str, DockerFileRule] = Field(
        default_factory=lambda: {k: DockerFileRule(**v) for k, v in _DOCKER_FILES.items()})  # 3.x
    # setting (a key above) -> why this target cannot meet it: the check still observes the value
    # and, where it deviates, is skipped with this reason and what it found (never passed); null
    # withdraws an acceptance of the profile this one extends
    accepted: dict[str, Optional[str]] = {}

    @field_validator("accepted")
    @classmethod
    def _known_settings(cls, v: dict[str, Optional[str]]) -> dict[str, Optional[str]]:
        known = (set(cls.model_fields) - {"config", "accepted"}) | {"base_device_size"}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}: accepted deviations name one of {sorted(known)}")
        return v


# --- target: where the platform is ---------------------------------------------------------------
class Credential(Strict):
    """Where to find a secret: the NAME of an environment variable or of a file path variable.
    Values never live in a profile."""
    user: Optional[str] = None
    password_env: Optional[str] = None
    password_file: Optional[str] = None

    @field_validator("password_env")
    @classmethod
    def _name_only(cls, v: Optional[str]) -> Optional[str]:
        import re

        if v is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", v):
            raise ValueError("must be an environment variable NAME (A-Z, 0-9, _), never a secret value")
        return v


class TlsClient(Strict):
    ca: str
    cert: str
    key: str
    # the platform CA's key: only to mint a throwaway EXPIRED client certificate (MTLS-003) in a temp
    # dir; absent: that check is skipped with the reason
    ca_key: Optional[str] = None


class Vantage(Strict):
    """An outside client on the audited host: a network namespace with its own link to the host."""
    netns: str
    address: str  # key of target.addresses: the exact host address it scans (never a subnet)
    sees: list[Literal["public", "vpn"]]  # which of security.public_ports / vpn_ports it may reach
    interface: Optional[str] = None  # host side of its link (the DOCKER-USER rules name it)


class Endpoint(Strict):
    host: str
    port: int = Field(ge=1, le=65535)
    server_name: Optional[str] = None
    credential: Optional[Credential] = None
    config_path: Optional[str] = None  # the service's config file inside its container (fallback reads)
    scheme: Optional[str] = None  # http / https for HTTP APIs (Prometheus, Elasticsearch, Grafana)


class ComposeTarget(Strict):
    project_dir: str
    files: list[str]
    env_files: list[str] = []
    project_name: str
    profiles: list[str] = []


class LiveFile(Strict):
    """A config file read from inside the running container (docker API, read-only)."""
    service: str
    path: str


class FleetGroup(Strict):
    """One role of the fleet: an inventory group whose hosts are audited host by host."""
    # the hosts of this role run the platform's Docker engine, reached over SSH (DOCKER_HOST=ssh://):
    # false marks the per-host Docker sources absent (skipped with that reason); true and no answer is an error
    docker: bool = True
    docker_user: Optional[str] = None  # user of the ssh:// Docker endpoint (default: the inventory's ansible_user)


class Fleet(Strict):
    """The hosts to audit, from an Ansible inventory (hosts, addresses, users, keys as Ansible reads
    them); host-level controls run once per host of the named groups, through testinfra."""
    inventory: str  # path, relative to the project root unless absolute
    groups: dict[str, FleetGroup]  # inventory group -> its role's settings; a list of names is also accepted

    @field_validator("groups", mode="before")
    @classmethod
    def _names(cls, v: object) -> object:
        return {str(g): {} for g in v} if isinstance(v, list) else v

    @field_validator("groups")
    @classmethod
    def _some(cls, v: dict[str, FleetGroup]) -> dict[str, FleetGroup]:
        if not v:
            raise ValueError("name at least one inventory group")
        return v


class Target(Strict):
    docker_host: str = "unix:///var/run/docker.sock"
    compose: ComposeTarget
    config_files: dict[str, list[str]] = {}
    live_files: dict[str, LiveFile] = {}  # same keys as config_files: where the running copy is
    endpoints: dict[str, Endpoint] = {}
    tls_client: Optional[TlsClient] = None
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    # all sources are gathered concurrently before the first check; one still reading after this
    # many seconds is an error for its checks ("did not answer within the run deadline")
    run_deadline_s: float = Field(default=300.0, gt=0, le=3600)
    # every literal endpoint address must be configured on this host: the platform runs here, and a
    # missing vantage address (namespaces down) must not send probes out through the default route
    local_only: bool = False
    host_backend: str = "local://"
    addresses: dict[str, str] = {}
    vantages: dict[str, Vantage] = {}  # outside vantage points for the port scans (PORT-0xx)
    scan_timeout_s: float = Field(default=0.5, gt=0, le=10)  # per-port connect timeout of the scans
    fleet: Optional[Fleet] = None  # audit several hosts from an Ansible inventory (host-level controls)


class Profile(Strict):
    name: str
    plan: str
    description: str = ""
    hardware: Hardware
    allocations: dict[str, Allocation]
    zones: dict[str, Zone]
    containers: dict[str, Container]
    container_policy: ContainerPolicy
    mariadb: MariaDB
    backup: Backup
    redis: Redis
    security: Security
    monitoring: Monitoring
    logs: Logs
    docker_daemon: DockerDaemon = DockerDaemon()  # beyond the plan: CIS Docker 1-3
    gpu_required: bool = True  # prod: a host without its GPUs fails; a lab/baseline profile skips
    report_language: Optional[Literal["ko", "en"]] = None  # labels of report.html; --lang overrides
    # key paths (dotted, `*` for any one key) whose values are not in the plan's words (hardening,
    # supporting containers, ports): records that compare them say basis "addition"
    additions: list[str] = []
    target: Target
    # key paths whose value differs from the profile this one extends (set by the loader, never in YAML):
    # records that compare them say basis "override"
    overrides: tuple[str, ...] = Field(default=(), exclude=True)

    def endpoint_container(self, tls_name: str) -> Optional[str]:
        """The container behind a TLS endpoint: the `service:NAME` of its target endpoint, else the
        container of the same name."""
        spec = self.security.tls.endpoints.get(tls_name)
        ep = self.target.endpoints.get(spec.endpoint) if spec else None
        if ep is not None and ep.host.startswith("service:"):
            return ep.host.split(":", 1)[1]
        return tls_name if tls_name in self.containers else None

    def cannot_run(self, container: Optional[str]) -> Optional[str]:
        """`NAME: reason` when the profile says the container cannot run where it points (skip_live)."""
        spec = self.containers.get(container or "")
        return f"{container}: {spec.skip_live}" if spec is not None and spec.skip_live else None

    def container_networks(self, name: str) -> list[str]:
        c = self.containers[name]
        if c.networks is not None:
            return c.networks
        zone = self.zones.get(c.zone)  # an unknown zone is reported by PLAN-012, not a crash here
        return zone.networks if zone else []
