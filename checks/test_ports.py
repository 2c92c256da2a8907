"""4.1 네트워크 보안 (외부 접근, 관리자 접근): port exposure seen from outside. From the external
vantage point only HTTPS/WSS 443 answers; from the VPN also SSH 22 and the admin portal 8443. Every
published container port and every listening host socket is one the profile allows, and Docker's
loophole (routing to a container IP past the published ports) is closed."""
from __future__ import annotations

import ipaddress

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.base import FactError
from plancheck.facts.exposure import ExposureFacts
from plancheck.profile.models import Profile

PORTS = "4.1 네트워크 보안 (외부 접근 / 관리자 접근: VPN 필수)"
ANY = ("0.0.0.0", "::", "")


def _cis(v112: str, v160: str) -> tuple[str, ...]:
    return (f"cis-docker-1.12:{v112}", f"docker-bench-1.6.0:{v160}")


def expected_ports(profile: Profile, vantage: str) -> list[int]:
    sees = profile.target.vantages[vantage].sees
    ports = [p.port for p in profile.security.public_ports] if "public" in sees else []
    ports += [p.port for p in profile.security.vpn_ports] if "vpn" in sees else []
    return sorted(set(ports))


def allowed_bindings(profile: Profile) -> set[tuple[str, str, int]]:
    """(service, host address, port) the profile allows to be published."""
    addr = profile.target.addresses
    out = {(p.service, ip, p.port) for p in profile.security.public_ports for ip in ANY + (addr.get("public", ""),)}
    out |= {(p.service, addr.get("vpn", "vpn"), p.port) for p in profile.security.vpn_ports}
    return out


@control("PORT-001", title="Exactly the planned ports answer from the vantage point", severity="critical",
         section=PORTS, rationale="From outside only HTTPS/WSS 443 is open; SSH 22 and the admin portal 8443 only "
         "through the VPN. A full connect scan from a real outside client is the proof.",
         remediation="Unpublish the extra port (compose `ports:`), remove the forward/DNAT rule, or firewall it.",
         tags=_cis("5.8", "5.7"),
         reads=("security.public_ports", "security.vpn_ports"))
def test_ports_from_vantage(check: Check, exposure: ExposureFacts, vantage: str, profile: Profile) -> None:
    scan = check.fact(exposure.scans.get(vantage))
    if scan is None:
        raise FactError(f"no scan from vantage point {vantage}")
    if scan.error:
        raise FactError(scan.error)
    check.equal(scan.open_ports, expected_ports(profile, vantage),
                what=f"TCP ports open on {scan.address} from {scan.netns} ({scan.scanned} scanned)")


@control("PORT-002", title="Only the planned container ports are published", severity="critical", section=PORTS,
         rationale="A published port is one firewall mistake away from the internet, even while Docker cannot set "
         "it up (a container on an internal network opens it the day it joins a routed one).",
         remediation="Remove the `ports:` entry; publish VPN-only ports on the VPN address only.",
         tags=_cis("5.8|5.13", "5.7|5.14"),
         reads=("security.public_ports", "security.vpn_ports"))
def test_ports_published(check: Check, exposure: ExposureFacts, profile: Profile) -> None:
    allowed = allowed_bindings(profile)
    extra = [f"{p.service} {p.host_ip}:{p.host_port}->{p.container_port}" + ("" if p.effective else " (requested)")
             for p in exposure.published if (p.service, p.host_ip, p.host_port) not in allowed]
    # the plan publishes 443 at least: an empty list means nothing was seen, not a clean host
    check.none_of(extra, what="published ports the profile does not allow", among=len(exposure.published),
                  noun="published ports")


@control("PORT-003", title="Only allowed sockets listen on the host", severity="high", section=PORTS,
         rationale="Every listening socket is attack surface; anything besides the published ports must be "
         "named in the profile with its reason.",
         remediation="Stop the service or bind it to loopback; a tolerated one goes to security.host_listeners.",
         reads=("security.public_ports", "security.vpn_ports", "security.host_listeners"))
def test_ports_host_listeners(check: Check, exposure: ExposureFacts, profile: Profile) -> None:
    listeners = check.fact(exposure.listeners)
    allowed = {f"{ip}:{port}" if ":" not in ip else f"[{ip}]:{port}" for _, ip, port in allowed_bindings(profile)
               if ip}
    allowed |= {f"{h.address}:{h.port}" if ":" not in h.address else f"[{h.address}]:{h.port}"
                for h in profile.security.host_listeners}

    def loopback(s: str) -> bool:
        try:
            return ipaddress.ip_address(s.rsplit(":", 1)[0].strip("[]")).is_loopback
        except ValueError:
            return False

    extra = [s for s in listeners if s not in allowed and not (profile.security.ignore_loopback_listeners
                                                               and loopback(s))]
    check.none_of(extra, what="host sockets listening outside the profile", among=len(listeners),
                  noun="listening sockets")


@control("PORT-004", title="DOCKER-USER drops what Docker did not DNAT from the vantage interface", severity="critical",
         section=PORTS, rationale="Docker 20.10 forwards to a container IP from any host that routes to it, past the "
         "published ports (even ports 'published on 127.0.0.1'); a DOCKER-USER rule must drop it.",
         remediation="iptables -I DOCKER-USER -i <outside if> -m conntrack ! --ctstate DNAT -j DROP "
         "(baseline/scripts/netns.sh up).", tags=_cis("5.13", "5.14"),
         reads=("security.public_ports", "security.vpn_ports"))
def test_ports_docker_user_rule(check: Check, exposure: ExposureFacts, vantage: str) -> None:
    hole = check.fact(exposure.loophole.get(vantage))
    if hole is None:
        raise FactError(f"no loophole facts for vantage point {vantage}")
    if hole.error and not hole.rules:
        raise FactError(hole.error)
    check.is_true(hole.drops_non_dnat, what=f"DOCKER-USER drops non-DNAT traffic from {hole.interface}",
                  found_text="no drop rule", evidence="; ".join(hole.rules) or "no rule names the interface")


@control("PORT-005", title="No container reachable by routing to its IP from outside", severity="critical",
         section=PORTS, rationale="The loophole proven, not just read: a client that routes a container IP via the "
         "host must get nothing, whatever the rules look like.",
         remediation="Restore the DOCKER-USER drop rule; check `iptables -S DOCKER-USER` and FORWARD.",
         tags=_cis("5.13", "5.14"),
         reads=("security.internal_networks",))
def test_ports_container_ip_unreachable(check: Check, exposure: ExposureFacts, vantage: str) -> None:
    hole = check.fact(exposure.loophole.get(vantage))
    if hole is None:
        raise FactError(f"no loophole facts for vantage point {vantage}")
    if hole.error:
        raise FactError(hole.error)
    check.none_of([p.target for p in hole.probes if p.reachable],
                  what=f"container ports answering from {vantage} through a route to the container IP",
                  among=len(hole.probes), noun="container ports probed")
