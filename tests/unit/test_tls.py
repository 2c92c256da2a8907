"""TLS-0xx and MTLS-0xx on recorded facts (tests/data/good/tls.json, mtls.json: recorded from the
live baseline): the compliant set passes, one mutation per control fails exactly that control; plus
the parsing and refusal interpretation the fact sources rely on."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

import pytest

from plancheck.facts.tls import classify_exception, classify_http, parse_http_head
from plancheck.profile import load_profile
from tests.audit import ROOT, load_good_facts, mutate, run_audit

GOOD = load_good_facts()
SELECT = ["-k", "test_tls.py or test_mtls.py"]
Facts = dict[str, Any]


def tls(name: str, **changes: Any) -> Callable[[Facts], None]:
    return lambda f: f["tls"]["endpoints"][name].update(changes)


def cert(name: str, **changes: Any) -> Callable[[Facts], None]:
    return lambda f: f["tls"]["endpoints"][name]["certificate"].update(changes)


def case(name: str, which: str, outcome: str) -> Callable[[Facts], None]:
    return lambda f: f["mtls"]["endpoints"][name]["cases"].update({which: {"outcome": outcome, "detail": "mutated"}})


def versions_with_tls12(f: Facts) -> None:
    f["tls"]["endpoints"]["gateway"]["versions"]["TLSv1.2"] = True


def expires_in_5_days(f: Facts) -> None:
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=5)
    f["tls"]["endpoints"]["api-server"]["certificate"]["not_after"] = soon.isoformat()


CASES: dict[str, Callable[[Facts], None]] = {
    "TLS-001": versions_with_tls12,
    "TLS-002": lambda f: f["tls"]["endpoints"]["redis"]["cipher_suites"].append("TLS_AES_128_CCM_8_SHA256"),
    "TLS-003": cert("mariadb", chain_valid=False, chain_error="unable to get local issuer certificate"),
    "TLS-004": expires_in_5_days,
    "TLS-005": cert("auth-server", key_type="RSA", key_bits=1024),
    "TLS-006": cert("prometheus", signature_algorithm="sha1WithRSAEncryption"),
    "TLS-007": cert("chat-server", san_dns=["localhost"]),
    "TLS-008": tls("gateway", hsts=""),
    "TLS-009": tls("gateway", http_plain={"ok": False, "detail": "plaintext HTTP answers on port 80: HTTP 200"}),
    "TLS-010": tls("gateway", websocket={"ok": False, "detail": "upgrade of /ws answered HTTP 404, not 101"}),
    "TLS-011": tls("mariadb", session_version="TLSv1.2"),
    "MTLS-001": case("redis", "no_cert", "accepted"),
    "MTLS-002": case("node-exporter", "foreign_ca", "accepted"),
    "MTLS-003": case("mariadb", "expired", "accepted"),
    "MTLS-004": case("api-server", "valid", "refused"),
}


def test_good_tls_facts_pass(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=GOOD, args=SELECT)
    assert res.failed == set(), [c["message"] for c in res.items("failed")]
    covered = {c["control"] for c in res.checks if c["outcome"] == "passed"}
    assert set(CASES) <= covered, sorted(set(CASES) - covered)


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_tls_control_fails_on_its_broken_fact(tmp_path: Path, control: str) -> None:
    res = run_audit(tmp_path, "baseline", facts=mutate(GOOD, CASES[control]), args=SELECT)
    assert res.failed == {control}, [c["message"] for c in res.items("failed")]
    assert all(c["message"].startswith(control) and c["expected"] and c["found"] for c in res.items("failed"))


def test_expired_case_skipped_without_ca_key(tmp_path: Path) -> None:
    reason = "the profile names no platform CA key (target.tls_client.ca_key)"
    facts = mutate(GOOD, lambda f: [e["cases"].update(expired={"reason": reason, "kind": "absent"})
                                    for e in f["mtls"]["endpoints"].values()])
    res = run_audit(tmp_path, "baseline", facts=facts, args=["-k", "test_mtls_expired"])
    assert res.failed == set() and res.items("skipped")
    # endpoints of containers the baseline cannot run are skipped for that reason instead
    base = load_profile("baseline", ROOT / "profiles")
    mine = [c for c in res.items("skipped")
            if not base.cannot_run(base.endpoint_container(c["nodeid"].rsplit("[", 1)[1].rstrip("]")))]
    assert mine and all(reason in (c.get("message") or "") for c in mine), mine[0]


def test_unreachable_endpoint_is_an_error_naming_it(tmp_path: Path) -> None:
    facts = mutate(GOOD, tls("redis", error="redis at 172.28.0.3:6379: ConnectionRefusedError: [Errno 111]"))
    res = run_audit(tmp_path, "baseline", facts=facts, args=["-k", "test_tls_versions"])
    bad = [c for c in res.checks if c["outcome"] in ("failed", "error")]
    assert len(bad) == 1 and "172.28.0.3:6379" in bad[0]["message"]


# --- interpretation of the servers' answers -------------------------------------------------------
def test_parse_http_head() -> None:
    status, headers, body = parse_http_head(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n"
                                            b"Strict-Transport-Security: max-age=1\r\n\r\nhello")
    assert (status, headers["strict-transport-security"], body) == (400, "max-age=1", b"hello")


@pytest.mark.parametrize("status,body,outcome", [
    (400, b"<center>No required SSL certificate was sent</center>", "refused"),
    (400, b"<center>The SSL certificate error</center>", "refused"),
    (495, b"", "refused"),
    (0, b"", "refused"),
    (200, b"ok", "accepted"),
    (403, b"forbidden", "accepted"),  # the CN map answered: the TLS layer let the client in
])
def test_classify_http(status: int, body: bytes, outcome: str) -> None:
    assert classify_http(status, body).outcome == outcome


def test_classify_exception() -> None:
    import ssl

    assert classify_exception(ConnectionRefusedError(111, "refused"), connected=False).outcome == "error"
    assert classify_exception(TimeoutError("timed out"), connected=True).outcome == "error"
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    assert classify_exception(alert, connected=True).outcome == "refused"
    assert classify_exception(ConnectionResetError(104, "reset by peer"), connected=True).outcome == "refused"


def test_mint_throwaway_certificates(tmp_path: Path) -> None:
    import trustme
    from cryptography import x509

    from plancheck.facts.tls import mint_expired, mint_foreign

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    ca.private_key_pem.write_to_path(str(tmp_path / "ca.key"))
    crt, _ = mint_expired(str(tmp_path / "ca.crt"), str(tmp_path / "ca.key"), "plancheck-audit", tmp_path)
    c = x509.load_pem_x509_certificate(Path(crt).read_bytes())
    assert c.not_valid_after_utc < dt.datetime.now(dt.timezone.utc)
    assert c.issuer == x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes()).subject
    crt2, key2 = mint_foreign("plancheck-audit", tmp_path)
    assert Path(crt2).is_file() and Path(key2).is_file()
    assert x509.load_pem_x509_certificate(Path(crt2).read_bytes()).issuer != c.issuer
