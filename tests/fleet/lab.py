"""A fleet lab on this machine: N network namespaces (`pcfleetN`), each with its own sshd (own host key,
own config, key-only login with a generated key), its own hostname (UTS namespace) and its own
"uplink" (a veth pair `pcup0`/`pcup0p` inside the namespace), joined to the root namespace by a bridge
`pcfleet-br` on 203.0.113.200/27 (hosts .201 ...; baseline/scripts/netns.sh uses .1-.6 only).

Used by tests/fleet/test_fleet.py and bench/fleet_bench.py; needs root, iproute2, unshare and
openssh-server. Everything it creates is removed by `close()` (also when set-up fails half way).
The namespaces share this machine's filesystem: files, CPU and memory read the same on every host;
what differs per host is the network (addresses, links) and the hostname.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

BRIDGE = "pcfleet-br"
BRIDGE_ADDR = "203.0.113.200"
PREFIX = 27
FIRST = 201  # fleet-1 is 203.0.113.201
MAX_HOSTS = 20  # .201 .. .220
SSHD = "/usr/sbin/sshd"


def why_not() -> Optional[str]:
    """Why the lab cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, sshd)"
    for tool in ("ip", "unshare", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} not installed"
    if not Path(SSHD).exists():
        return "openssh-server not installed (apt-get install openssh-server)"
    return None


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()[:300]}")
    return out


class FleetLab:
    def __init__(self, n: int, groups: Optional[dict[str, list[int]]] = None):
        """`n` hosts fleet-1..fleet-n; `groups`: inventory group -> host numbers (default: all in ai_hosts)."""
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"1..{MAX_HOSTS} hosts")
        self.n = n
        self.groups = groups or {"ai_hosts": list(range(1, n + 1))}
        self.dir = Path(tempfile.mkdtemp(prefix="pcfleet-", dir="/tmp"))
        self.key = self.dir / "id_ed25519"
        self.inventory = self.dir / "hosts.ini"
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.netns: list[str] = []
        self.bridge = False
        self.made_run_sshd = False
        self.runs = 0

    # --- names -------------------------------------------------------------------------------
    @staticmethod
    def name(i: int) -> str:
        return f"fleet-{i}"

    @staticmethod
    def ns(i: int) -> str:
        return f"pcfleet{i}"

    @staticmethod
    def address(i: int) -> str:
        return f"203.0.113.{FIRST + i - 1}"

    def log(self, i: int) -> Path:
        return self.dir / f"h{i}" / "sshd.log"

    # --- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> "FleetLab":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        why = why_not()
        if why:
            raise RuntimeError(f"fleet lab: {why}")
        for i in range(1, self.n + 1):  # leftovers of an interrupted run
            if sh("ip", "netns", "pids", self.ns(i), check=False).returncode == 0 or \
                    sh("ip", "link", "show", f"pcfv{i}", check=False).returncode == 0:
                raise RuntimeError(f"network namespace {self.ns(i)} or link pcfv{i} exists already: remove them "
                                   f"(ip netns del {self.ns(i)}; ip link del pcfv{i}) or wait for the run that owns them")
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pcfleet-lab", "-f", str(self.key))
        (self.dir / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        if not Path("/run/sshd").exists():  # sshd's privilege separation directory
            os.makedirs("/run/sshd", mode=0o755)
            self.made_run_sshd = True
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        self.bridge = True
        sh("ip", "addr", "add", f"{BRIDGE_ADDR}/{PREFIX}", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for i in range(1, self.n + 1):
            self._host(i)
        self.write_inventory()
        self.wait_ready()

    def _host(self, i: int) -> None:
        ns, veth = self.ns(i), f"pcfv{i}"
        sh("ip", "netns", "add", ns)
        self.netns.append(ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", BRIDGE)
        sh("ip", "link", "set", veth, "up")
        x = ("ip", "netns", "exec", ns)
        sh(*x, "ip", "link", "set", "lo", "up")
        sh(*x, "ip", "addr", "add", f"{self.address(i)}/{PREFIX}", "dev", "eth0")
        sh(*x, "ip", "link", "set", "eth0", "up")
        sh(*x, "ip", "route", "add", "default", "via", BRIDGE_ADDR)
        # the host's planned uplink (hardware.network.interfaces in the lab profile): up unless mutated
        sh(*x, "ip", "link", "add", "pcup0", "type", "veth", "peer", "name", "pcup0p")
        sh(*x, "ip", "link", "set", "pcup0p", "up")
        sh(*x, "ip", "link", "set", "pcup0", "up")
        d = self.dir / f"h{i}"
        d.mkdir()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key"))
        (d / "sshd_config").write_text(
            f"Port 22\nListenAddress {self.address(i)}\nHostKey {d / 'ssh_host_ed25519_key'}\n"
            f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxStartups 200\nMaxSessions 200\n"
            "LogLevel INFO\nPrintMotd no\n")
        self.procs[i] = subprocess.Popen(
            [*x, "unshare", "--uts", "sh", "-c",
             f'hostname {self.name(i)} && exec {SSHD} -D -e -f {d / "sshd_config"} -E {self.log(i)}'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def write_inventory(self) -> Path:
        """The Ansible inventory; each call gets a fresh ssh ControlPath directory, so a run's ssh
        connections are its own (masters of an earlier run are not reused)."""
        self.runs += 1
        cp = self.dir / f"cp{self.runs}"
        cp.mkdir()
        lines = []
        for group, members in self.groups.items():
            lines.append(f"[{group}]")
            lines += [f"{self.name(i)} ansible_host={self.address(i)}" for i in members]
            lines.append("")
        args = (f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes "
                f"-o ControlPath={cp}/%C")
        lines += ["[all:vars]", "ansible_user=root", "ansible_port=22",
                  f"ansible_ssh_private_key_file={self.key}", f"ansible_ssh_common_args='{args}'", ""]
        self.inventory.write_text("\n".join(lines))
        return self.inventory

    def ssh(self, i: int, command: str) -> str:
        out = sh("ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
                 f"root@{self.address(i)}", command)
        return out.stdout

    def wait_ready(self, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        for i in range(1, self.n + 1):
            while True:
                if self.procs[i].poll() is not None:
                    raise RuntimeError(f"sshd of {self.name(i)} exited: {self.log(i).read_text()[-300:] if self.log(i).exists() else ''}")
                try:
                    if self.ssh(i, "hostname").strip() == self.name(i):
                        break
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
                if time.monotonic() > end:
                    raise RuntimeError(f"sshd of {self.name(i)} at {self.address(i)} did not answer in {timeout:g} s")
                time.sleep(0.2)

    def accepted(self, i: int) -> int:
        """How many ssh logins host i has accepted so far."""
        p = self.log(i)
        return p.read_text(errors="replace").count("Accepted publickey") if p.exists() else 0

    def set_uplink(self, i: int, up: bool) -> None:
        """Take host i's planned uplink down (or up again): its peer goes down, pcup0 says lowerlayerdown."""
        sh("ip", "netns", "exec", self.ns(i), "ip", "link", "set", "pcup0p", "up" if up else "down")

    # --- tear-down ---------------------------------------------------------------------------
    def close(self) -> None:
        # the runs' ssh connection masters (ControlPersist): told to exit while their server still answers
        # (after that, a master of a vanished namespace would wait on its dead connection)
        for sock in sorted(self.dir.glob("cp*/*")):
            sh("ssh", "-o", f"ControlPath={sock}", "-O", "exit", "pcfleet-master", check=False)
        for i, p in self.procs.items():  # our own sshd processes, by their pid (own session)
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
        self.procs.clear()
        for i in range(1, self.n + 1):  # the host ends of the links (a namespace may outlive its name a while)
            sh("ip", "link", "del", f"pcfv{i}", check=False)
        for ns in self.netns:
            # sshd's session children (and ssh masters' peers) in the namespace end with it
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        self.netns.clear()
        if self.bridge:
            sh("ip", "link", "del", BRIDGE, check=False)
            self.bridge = False
        if self.made_run_sshd:
            shutil.rmtree("/run/sshd", ignore_errors=True)
            self.made_run_sshd = False
        shutil.rmtree(self.dir, ignore_errors=True)
