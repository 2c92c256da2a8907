"""The restore drill (3.1 백업, proven restorable): the newest full backup and its incrementals are
decrypted, prepared and started as a MariaDB server in a SCRATCH container, and the restored tables
are compared with the checksums and row counts the backup job recorded in the manifests.

Isolation: the scratch container has its own internal network and its own volume, runs the backup
container's image with all capabilities dropped, and mounts the backup volume and the two keys
read-only. It never connects to the live database nor mounts its volumes. Everything it created
(container, volume, network, all labelled io.plancheck.restore-drill) is removed in a finally block,
also when a step fails; leftovers of an earlier interrupted drill are removed first.

Only gathered when the drill is asked for (`-m restore_drill` or `--restore-drill`): a live-only
source; static mode has none."""
from __future__ import annotations

import shlex
import time
import uuid
from typing import Any, Optional

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, register

LABEL = "io.plancheck.restore-drill"
WORK = "/var/lib/plancheck-backup"  # owned by mysql in the backup image: the scratch volume goes here
SOCK = "/tmp/drill.sock"
DB_KEYFILE = "/etc/mysql/encryption/keyfile"


class TableResult(BaseModel):
    expected_checksum: Optional[int] = None  # None: changed while the backup ran (not comparable)
    restored_checksum: Optional[int] = None
    expected_rows: Optional[int] = None
    restored_rows: Optional[int] = None


class RestoreDrillFacts(Facts):
    backup: str  # chain/name of the newest full backup
    members: list[str]  # full, then incrementals, in order
    payload_bytes: int = 0
    rto_s: Optional[float] = None  # decrypt + extract + prepare + server ready
    bytes_per_s: Optional[float] = None
    steps: dict[str, float] = {}  # step -> seconds
    tables: dict[str, TableResult] = {}
    error: str = ""  # the step that failed and why ('' = restored)
    cleaned_up: bool = False
    leftovers: list[str] = []


def _remove_labelled(client: Any) -> list[str]:
    """Remove every container, volume and network of a drill; return what could not be removed."""
    left = []
    flt = {"label": LABEL}
    for c in client.api.containers(all=True, filters=flt):
        try:
            client.api.remove_container(c["Id"], force=True, v=False)
        except Exception:
            left.append(f"container {c['Id'][:12]}")
    for v in (client.api.volumes(filters=flt) or {}).get("Volumes") or []:
        try:
            client.api.remove_volume(v["Name"], force=True)
        except Exception:
            left.append(f"volume {v['Name']}")
    for n in client.api.networks(filters=flt):
        try:
            client.api.remove_network(n["Id"])
        except Exception:
            left.append(f"network {n['Name']}")
    return left


def _q(s: str) -> str:
    return "`" + s.replace("`", "``") + "`"


class _Drill:
    def __init__(self, client: Any, cid: str, facts: RestoreDrillFacts, timeout: int):
        self.client, self.cid, self.facts, self.timeout = client, cid, facts, timeout

    def sh(self, step: str, script: str) -> str:
        t0 = time.monotonic()
        ex = self.client.api.exec_create(self.cid, ["bash", "-c", f"set -euo pipefail\n{script}"], user="10001:10001")
        out = self.client.api.exec_start(ex["Id"]).decode(errors="replace")
        rc = self.client.api.exec_inspect(ex["Id"]).get("ExitCode")
        self.facts.steps[step] = round(self.facts.steps.get(step, 0.0) + time.monotonic() - t0, 3)
        if rc != 0:
            tail = " | ".join(out.strip().splitlines()[-3:])[:300]
            raise FactError(f"restore drill: {step} failed (exit {rc}): {tail}")
        return out


@register
class RestoreDrillSource(FactSource):
    name = "restore_drill"
    model = RestoreDrillFacts

    def static(self, ctx: Context) -> RestoreDrillFacts:
        raise NoSource("restore drill: needs the running platform's backups (live only)")

    def deadline_s(self, ctx: Context) -> float:
        # opt-in and slow by nature: its own budget (the scratch container's timeout) plus setup
        return float(ctx.profile.backup.restore_drill.timeout_s) + 120.0

    def live(self, ctx: Context) -> RestoreDrillFacts:
        from plancheck.facts.backup import BackupFacts, _mount_of, finished_at, manifest_time
        from plancheck.facts.containers import docker_client, find_service

        if ctx.env.get("PLANCHECK_RESTORE_DRILL") != "1":
            raise NoSource("restore drill not requested (opt-in: -m restore_drill or --restore-drill)")
        assert ctx.store is not None
        bf: BackupFacts = ctx.store.get("backup")  # type: ignore[assignment]
        if not isinstance(bf.backups, list) or not bf.backups:
            raise FactError(f"restore drill: no backup to restore in {bf.source}")
        fulls = [b for b in bf.backups if (b.manifest or {}).get("type") == "full"]
        if not fulls:
            raise FactError("restore drill: no full backup with a manifest")
        full = max(fulls, key=finished_at)
        # follow the base links from the full to the newest incremental built on it
        members = [full]
        while True:
            children = [b for b in bf.backups if b.chain == full.chain
                        and (b.manifest or {}).get("type") == "incremental"
                        and (b.manifest or {}).get("base") == members[-1].name]
            if not children:
                break
            members.append(max(children, key=lambda b: (manifest_time(b, "start") or b.mtime, b.name)))
        facts = RestoreDrillFacts(source="scratch container (restore drill)", backup=f"{full.chain}/{full.name}",
                                  members=[m.name for m in members])
        b = ctx.profile.backup
        key_file = bf.settings.get("KEY_FILE", "")
        cipher = bf.settings.get("CIPHER", "aes-256-cbc")
        iters = bf.settings.get("PBKDF2_ITER", "200000")
        docker_client(ctx).close()  # one-line error when the engine is unreachable
        import docker

        client = docker.DockerClient(base_url=ctx.profile.target.docker_host, timeout=b.restore_drill.timeout_s)
        run = uuid.uuid4().hex[:10]
        labels = {LABEL: run}
        try:
            _remove_labelled(client)  # an earlier drill killed half-way
            ins = find_service(client, ctx, b.container)
            vol = _mount_of(ins, b.root)
            kmount = _mount_of(ins, key_file) if key_file else None
            dbkey = _mount_of(ins, DB_KEYFILE)
            if vol is None or vol.get("Type") != "volume":
                raise FactError(f"restore drill: {b.container}:{b.root} is not a named volume")
            if kmount is None or dbkey is None:
                raise FactError(f"restore drill: the backup container does not mount {key_file or 'KEY_FILE'} "
                                f"and {DB_KEYFILE}")
            client.api.create_network(f"plancheck-drill-{run}", internal=True, labels=labels)
            client.api.create_volume(f"plancheck-drill-{run}", labels=labels)
            binds = {
                vol["Name"]: {"bind": b.root, "mode": "ro"},
                f"plancheck-drill-{run}": {"bind": WORK, "mode": "rw"},
                kmount["Source"]: {"bind": kmount["Destination"], "mode": "ro"},
                dbkey["Source"]: {"bind": DB_KEYFILE, "mode": "ro"},
            }
            host_config = client.api.create_host_config(
                binds=binds, network_mode=f"plancheck-drill-{run}", cap_drop=["ALL"],
                security_opt=["no-new-privileges:true"], mem_limit=b.restore_drill.memory,
                tmpfs={"/tmp": "size=64m,mode=1777"}, pids_limit=512)
            c = client.api.create_container(ins["Config"]["Image"], command=["sleep", "infinity"], user="10001:10001",
                                            labels=labels, host_config=host_config, name=f"plancheck-drill-{run}",
                                            entrypoint=[])
            client.api.start(c["Id"])
            drill = _Drill(client, c["Id"], facts, b.restore_drill.timeout_s)
            self._run(drill, members, key_file, cipher, iters, facts)
        except FactError as e:
            facts.error = str(e).removeprefix("restore drill: ")
        except Exception as e:
            facts.error = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        finally:
            try:
                facts.leftovers = _remove_labelled(client)
                facts.cleaned_up = not facts.leftovers
            finally:
                client.close()
        return facts

    @staticmethod
    def _run(drill: _Drill, members: list[Any], key_file: str, cipher: str, iters: str,
             facts: RestoreDrillFacts) -> None:
        t0 = time.monotonic()
        # 1. every payload is what the job wrote (sha256 in the manifest)
        payloads = []
        for m in members:
            p = (m.manifest or {}).get("payload") or {}
            if not p.get("file"):
                raise FactError(f"restore drill: {m.name}: the manifest names no payload")
            payloads.append((m, f"{m.path}/{p['file']}", p))
        out = drill.sh("verify", "sha256sum " + " ".join(shlex.quote(x[1]) for x in payloads))
        sums = {line.split()[1]: line.split()[0] for line in out.splitlines() if len(line.split()) == 2}
        for m, path, p in payloads:
            if p.get("sha256") and sums.get(path) != p["sha256"]:
                raise FactError(f"restore drill: {m.name}: payload {p['file']} does not match its manifest "
                                f"(sha256 {sums.get(path, '?')[:16]}..., manifest {p['sha256'][:16]}...)")
            facts.payload_bytes += int(p.get("bytes") or 0)
        # 2. decrypt and unpack each member into its own directory
        for i, (m, path, _) in enumerate(payloads):
            drill.sh("decrypt+extract", f"mkdir -p {WORK}/{i} && openssl enc -d -{shlex.quote(cipher.removeprefix('-'))} "
                     f"-pbkdf2 -iter {int(iters)} -pass file:{shlex.quote(key_file)} -in {shlex.quote(path)} "
                     f"| mbstream -x -C {WORK}/{i}")
        # 3. prepare the full, then apply each incremental in order
        drill.sh("prepare", f"mariabackup --prepare --target-dir={WORK}/0 >{WORK}/prepare.log 2>&1 "
                 f"|| {{ tail -n 5 {WORK}/prepare.log; exit 1; }}")
        for i in range(1, len(payloads)):
            drill.sh("prepare", f"mariabackup --prepare --target-dir={WORK}/0 --incremental-dir={WORK}/{i} "
                     f">>{WORK}/prepare.log 2>&1 || {{ tail -n 5 {WORK}/prepare.log; exit 1; }}")
        # 4. start a server on the result (no network, no grant tables: nothing but this drill reaches it)
        drill.sh("start", f"""
cnf={WORK}/0/backup-my.cnf
algo=$(sed -n 's/^file_key_management_encryption_algorithm *= *//p' "$cnf" | head -n1)
nohup mariadbd --no-defaults --datadir={WORK}/0 --socket={SOCK} --skip-networking --skip-grant-tables \\
  --pid-file=/tmp/drill.pid --log-error={WORK}/server.log --innodb-buffer-pool-size=256M \\
  --plugin-load-add=file_key_management --file-key-management-filename={DB_KEYFILE} \\
  --file-key-management-encryption-algorithm=${{algo:-AES_CTR}} >/dev/null 2>&1 &
for i in $(seq 1 120); do mariadb-admin --socket={SOCK} ping >/dev/null 2>&1 && exit 0; sleep 0.5; done
tail -n 5 {WORK}/server.log; exit 1""")
        facts.rto_s = round(time.monotonic() - t0, 3)
        facts.bytes_per_s = round(facts.payload_bytes / facts.rto_s, 1) if facts.rto_s else None
        # 5. compare with the NEWEST member's manifest (the state the restore reaches)
        expected = (members[-1].manifest or {}).get("tables") or {}
        sql = []
        for name in sorted(expected):
            db, _, table = name.partition(".")
            sql.append(f"SELECT 'ROWS', '{name}', COUNT(*) FROM {_q(db)}.{_q(table)};")
            sql.append(f"CHECKSUM TABLE {_q(db)}.{_q(table)};")
        out = drill.sh("compare", f"mariadb --socket={SOCK} -N -B <<'SQL'\n" + "\n".join(sql) + "\nSQL") if sql else ""
        got_rows: dict[str, int] = {}
        got_sum: dict[str, Optional[int]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0] == "ROWS" and parts[2].isdigit():
                got_rows[parts[1]] = int(parts[2])
            elif len(parts) == 2:
                got_sum[parts[0]] = int(parts[1]) if parts[1].isdigit() else None
        for name, exp in expected.items():
            facts.tables[name] = TableResult(
                expected_checksum=exp.get("checksum"), expected_rows=exp.get("rows"),
                restored_checksum=got_sum.get(name), restored_rows=got_rows.get(name))
        drill.sh("stop", f"mariadb-admin --socket={SOCK} shutdown || true")
