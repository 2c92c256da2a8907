"""Break-and-detect for 4.1 network security on the running baseline (issue 4): each break changes
one fact of the real platform, the live audit of the matching module fails exactly the expected
controls, and the fact is restored in a finally block (then the module passes again).

Recreations go through docker-compose with the deployed files plus an override file in a temp dir
(never a file under baseline/); iptables and network changes are undone by their inverse.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from tests.audit import ROOT
from tests.live.conftest import DOCKER, PROJECT, container, sh

BASELINE = ROOT / "baseline"


def compose(*args: str, override: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANCHECK_", "COMPOSE_"))}
    for name in (".env", ".images.env"):
        path = BASELINE / name
        if path.is_file():
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip().strip('"').strip("'")
    cmd = ["docker-compose", "--project-directory", str(BASELINE), "-p", PROJECT,
           "-f", str(BASELINE / "compose.yaml"), "-f", str(BASELINE / "compose.local.yaml")]
    if override is not None:
        cmd += ["-f", str(override)]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300, env=env)
    if out.returncode != 0:
        raise AssertionError(f"docker-compose {' '.join(args)} failed: {out.stderr.strip()[-400:]}")
    return out.stdout


def wait_healthy(service: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = sh(DOCKER, "inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                   container(service), check=False).strip()
        if state == "running healthy":
            return
        time.sleep(1)
    raise AssertionError(f"{service} not healthy after {timeout:.0f} s: {state}")


def recreate(service: str, override: Path | None = None) -> None:
    compose("up", "-d", "--no-deps", "--force-recreate", service, override=override)
    wait_healthy(service)


def override_file(tmp: Path, service: str, spec: dict) -> Path:
    path = tmp / f"override-{service}.yaml"
    path.write_text(yaml.safe_dump({"services": {service: spec}}))
    return path


def container_ip(service: str, network: str) -> str:
    nets = json.loads(sh(DOCKER, "inspect", "-f", "{{json .NetworkSettings.Networks}}", container(service)))
    return nets[f"{PROJECT}_{network}"]["IPAddress"]


# --- the breaks -------------------------------------------------------------------------------------
@contextlib.contextmanager
def gateway_allows_tls12(tmp: Path) -> Iterator[None]:
    conf = (BASELINE / "config/nginx/gateway.conf").read_text()
    assert "ssl_protocols TLSv1.3;" in conf
    broken = tmp / "gateway.conf"
    broken.write_text(conf.replace("ssl_protocols TLSv1.3;", "ssl_protocols TLSv1.2 TLSv1.3;", 1))
    broken.chmod(0o644)
    tmp.chmod(0o755)
    vol = f"{broken}:/etc/nginx/plancheck.conf:ro"
    try:  # the restore also runs when the break itself does not come up
        recreate("gateway", override_file(tmp, "gateway", {"volumes": [vol]}))
        yield
    finally:
        recreate("gateway")


@contextlib.contextmanager
def node_exporter_without_client_verify(tmp: Path) -> Iterator[None]:
    cfg = yaml.safe_load((BASELINE / "config/prometheus/web-config.yml").read_text())
    cfg["tls_server_config"]["client_auth_type"] = "NoClientCert"
    cfg["tls_server_config"].pop("client_ca_file")  # exporter-toolkit refuses a client CA without a policy
    broken = tmp / "web-config.yml"
    broken.write_text(yaml.safe_dump(cfg))
    broken.chmod(0o644)
    tmp.chmod(0o755)
    try:  # the restore also runs when the break itself does not come up
        recreate("node-exporter", override_file(tmp, "node-exporter",
                                                {"volumes": [f"{broken}:/etc/plancheck/web-config.yml:ro"]}))
        yield
    finally:
        recreate("node-exporter")


def _mint_server_cert(tmp: Path, service: str, days: float, uid: int) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    pki = BASELINE / ".pki"
    ca = x509.load_pem_x509_certificate((pki / "ca/ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca/ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "plancheck break test"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, service)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(service), x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    d = tmp / "tls"
    d.mkdir(mode=0o755)
    (d / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    (d / "ca.crt").write_bytes((pki / "ca/ca.crt").read_bytes())
    for f in d.iterdir():
        f.chmod(0o644)
    os.chown(d / "tls.key", uid, uid)
    (d / "tls.key").chmod(0o400)
    tmp.chmod(0o755)
    return d


@contextlib.contextmanager
def api_server_cert_expires_in_5_days(tmp: Path) -> Iterator[None]:
    d = _mint_server_cert(tmp, "api-server", 5, 10005)
    try:  # the restore also runs when the break itself does not come up
        recreate("api-server", override_file(tmp, "api-server", {"volumes": [f"{d}:/etc/plancheck/tls:ro"]}))
        yield
    finally:
        recreate("api-server")


@contextlib.contextmanager
def mariadb_published_everywhere(tmp: Path) -> Iterator[None]:
    try:  # the restore also runs when the break itself does not come up
        recreate("mariadb", override_file(tmp, "mariadb", {"ports": ["0.0.0.0:3306:3306"]}))
        yield
    finally:
        recreate("mariadb")


@contextlib.contextmanager
def admin_portal_on_outside_address(tmp: Path) -> Iterator[None]:
    """Someone forwards 8443 of the public address to the admin portal (a DNAT rule in Docker's chain)."""
    rule = ["-d", "203.0.113.1/32", "-p", "tcp", "--dport", "8443", "-j", "DNAT",
            "--to-destination", f"{container_ip('admin-portal', 'admin')}:8443"]
    sh("iptables", "-w", "5", "-t", "nat", "-I", "DOCKER", "1", *rule)
    try:
        yield
    finally:
        sh("iptables", "-w", "5", "-t", "nat", "-D", "DOCKER", *rule)


DOCKER_USER_PCX0 = [["-i", "pcx0", "-m", "conntrack", "!", "--ctstate", "DNAT", "-j", "DROP"],
                    ["-i", "pcx0", "-m", "conntrack", "!", "--ctorigdst", "203.0.113.1", "-j", "DROP"]]


@contextlib.contextmanager
def docker_user_rule_removed(tmp: Path) -> Iterator[None]:
    for rule in DOCKER_USER_PCX0:
        sh("iptables", "-w", "5", "-D", "DOCKER-USER", *rule)
    try:
        yield
    finally:
        for rule in reversed(DOCKER_USER_PCX0):  # back on top, in their order
            if subprocess.run(["iptables", "-w", "5", "-C", "DOCKER-USER", *rule]).returncode != 0:
                sh("iptables", "-w", "5", "-I", "DOCKER-USER", "1", *rule)


@contextlib.contextmanager
def database_on_public_network(tmp: Path) -> Iterator[None]:
    sh(DOCKER, "network", "connect", f"{PROJECT}_edge", container("mariadb"))
    try:
        yield
    finally:
        sh(DOCKER, "network", "disconnect", f"{PROJECT}_edge", container("mariadb"))


BREAKS: dict[str, tuple[str, Callable[[Path], contextlib.AbstractContextManager], set[str]]] = {
    # id: (-k selection, break, controls expected to fail)
    # TLS 1.2 brings its own suites, outside the TLS 1.3 allow-list: versions and suites both fail
    "gateway-allows-tls12": ("test_tls.py", gateway_allows_tls12, {"TLS-001", "TLS-002"}),
    # no verification at all: no cert, a foreign CA's and an expired one all get in
    "node-exporter-no-client-verify": ("test_mtls.py", node_exporter_without_client_verify,
                                       {"MTLS-001", "MTLS-002", "MTLS-003"}),
    "api-server-cert-5-days": ("test_tls.py", api_server_cert_expires_in_5_days, {"TLS-004"}),
    "mariadb-published-0.0.0.0": ("test_ports.py", mariadb_published_everywhere, {"PORT-002"}),
    "8443-on-outside-address": ("test_ports.py", admin_portal_on_outside_address, {"PORT-001"}),
    "docker-user-rule-removed": ("test_ports.py", docker_user_rule_removed, {"PORT-004", "PORT-005"}),
    "database-on-public-network": ("test_segmentation.py", database_on_public_network, {"SEG-002"}),
}


def _failing(res) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c["nodeid"]: c["control"] for c in res.checks if c["outcome"] in ("failed", "error")}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.breaks(c) for c in sorted(b[2])], id=n)
                                  for n, b in BREAKS.items()])
def test_network_break_is_detected(name: str, baseline_audit, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Failures the baseline already has (reported by the clean run) are subtracted: the break must add
    exactly its controls, and restoring must bring back exactly the clean state."""
    selection, brk, expected = BREAKS[name]
    tmp = tmp_path_factory.mktemp(f"break-{name}")
    before = _failing(baseline_audit("-k", selection))
    with brk(tmp):
        broken = baseline_audit("-k", selection)
        new = {nid: ctl for nid, ctl in _failing(broken).items() if nid not in before}
        msgs = [c["message"] for c in broken.checks if c["nodeid"] in new]
        assert set(new.values()) == expected, msgs
        assert all(any(m.startswith(ctl) for ctl in expected) for m in msgs), msgs
    healed = baseline_audit("-k", selection)
    assert _failing(healed) == before, [c["message"] for c in healed.items("failed")]


@pytest.mark.breaks("PORT-001")
def test_external_scan_finds_the_extra_port(baseline_audit, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    with admin_portal_on_outside_address(tmp_path_factory.mktemp("extra")):
        res = baseline_audit("-k", "test_ports_from_vantage")
    failed = res.items("failed")
    assert [c["control"] for c in failed] == ["PORT-001"] and "8443" in failed[0]["found"], failed


def test_baseline_healthy_after_breaks(baseline_audit) -> None:  # type: ignore[no-untyped-def]
    """Runs last (file order): every container healthy, no leftover rule or network, the module passes."""
    states = sh(DOCKER, "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format",
                "{{.Names}} {{.Status}}").splitlines()
    assert states and all("(healthy)" in s for s in states), states
    assert "203.0.113.1/32" not in sh("iptables", "-w", "5", "-t", "nat", "-S", "DOCKER")
    rules = sh("iptables", "-w", "5", "-S", "DOCKER-USER")
    assert all(" ".join(r) in rules for r in DOCKER_USER_PCX0)
    assert "edge" not in sh(DOCKER, "inspect", "-f", "{{json .NetworkSettings.Networks}}", container("mariadb"))
    res = baseline_audit("-k", "test_tls.py or test_mtls.py or test_ports.py or test_segmentation.py")
    assert res.failed == set(), [c["message"] for c in res.items("failed")]
