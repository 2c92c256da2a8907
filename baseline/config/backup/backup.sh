#!/bin/bash
# plancheck-backup: MariaDB physical backups with mariabackup, encrypted at rest, one manifest each.
#
#   plancheck-backup [auto|full|incremental]     (default: auto)
#
# Settings: /etc/plancheck/backup.conf (KEY=VALUE, see that file; the environment wins).
# Layout under $BACKUP_ROOT (a named volume):
#   chains/<chain>/<ts>-full/       full backup (starts a chain)
#   chains/<chain>/<ts>-inc/        incremental on top of the previous member (its `base`)
#     backup.mbstream.enc           mariabackup --stream=mbstream | openssl enc -aes-256-cbc -pbkdf2
#     manifest.json                 written LAST: type, base, from/to LSN, start/end, table checksums
#                                   and row counts taken at backup time, payload size and sha256
#     mariabackup.log               mariabackup's own log (no table data)
#   LATEST, .last_success           the last successful backup (for the status metrics)
# The job's output also goes to $LOG_FILE (collected into the `important` log class).
# `auto` takes a full backup when there is no chain yet or the current chain's full is
# FULL_EVERY_DAYS old, otherwise an incremental one.
# Retention: a whole chain is deleted once its NEWEST member is older than RETENTION_DAYS, so every
# day inside the window stays restorable; unfinished backup directories (no manifest) are removed.
# Table checksums: CHECKSUM TABLE and COUNT(*) of every table the backup user can read, before and
# after the copy; a table that changed meanwhile is recorded with checksum null (not comparable).
# Status metrics for Prometheus go to $METRICS_DIR (node-exporter textfile collector).
# Keys: the passphrase ($KEY_FILE) and the server's data-at-rest key are mounted read-only from the
# deploy-time secrets and are never written under $BACKUP_ROOT.
set -euo pipefail
MODE=${1:-auto}
CONF=${PLANCHECK_BACKUP_CONF:-/etc/plancheck/backup.conf}
# settings file: KEY=VALUE lines; variables already in the environment win
if [[ -f $CONF ]]; then
    while IFS='=' read -r k v; do
        [[ $k =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
        v=${v%\"}; v=${v#\"}; v=${v%\'}; v=${v#\'}
        [[ -n ${!k:-} ]] || printf -v "$k" '%s' "$v"
    done < <(grep -E '^[A-Z_][A-Z0-9_]*=' "$CONF")
fi
BACKUP_ROOT=${BACKUP_ROOT:-/backups}
METRICS_DIR=${METRICS_DIR:-/metrics}
RETENTION_DAYS=${RETENTION_DAYS:-30}
FULL_EVERY_DAYS=${FULL_EVERY_DAYS:-7}
INCREMENTAL=${INCREMENTAL:-yes}
CIPHER=${CIPHER:-aes-256-cbc}
PBKDF2_ITER=${PBKDF2_ITER:-200000}
KEY_FILE=${KEY_FILE:?KEY_FILE (the backup passphrase file) is not set in $CONF}
CLIENT_CNF=${CLIENT_CNF:-/run/secrets/backup_client_cnf}
DATADIR=${DATADIR:-/var/lib/mysql}
LOG_FILE=${LOG_FILE:-}
LOCK=/tmp/plancheck-backup.lock
case $MODE in auto|full|incremental) ;; *) echo "usage: $0 [auto|full|incremental]" >&2; exit 2 ;; esac

# everything the job prints also goes to its log file (collected as "important")
if [[ -n $LOG_FILE ]] && mkdir -p "$(dirname "$LOG_FILE")" 2>/dev/null && touch "$LOG_FILE" 2>/dev/null; then
    exec > >(tee -a "$LOG_FILE") 2>&1
fi

log() { echo "$(date -u +%FT%TZ) [backup] $*"; }

write_metrics() {  # write_metrics SUCCESS(0|1)
    local ok=$1 tmp type ts bytes duration
    mkdir -p "$METRICS_DIR"
    tmp=$(mktemp "$METRICS_DIR/.backup.prom.XXXXXX")
    {
        echo "# HELP plancheck_backup_last_run_success 1 if the last backup run succeeded."
        echo "# TYPE plancheck_backup_last_run_success gauge"
        echo "plancheck_backup_last_run_success $ok"
        echo "# HELP plancheck_backup_last_run_timestamp_seconds Time of the last backup run."
        echo "# TYPE plancheck_backup_last_run_timestamp_seconds gauge"
        echo "plancheck_backup_last_run_timestamp_seconds $(date +%s)"
        if [[ -f $BACKUP_ROOT/.last_success ]]; then
            # shellcheck disable=SC1091
            . "$BACKUP_ROOT/.last_success"
            echo "# HELP plancheck_backup_last_success_timestamp_seconds Time of the last successful backup."
            echo "# TYPE plancheck_backup_last_success_timestamp_seconds gauge"
            echo "plancheck_backup_last_success_timestamp_seconds{type=\"$type\"} $ts"
            echo "# HELP plancheck_backup_last_success_size_bytes Size of the last successful backup."
            echo "# TYPE plancheck_backup_last_success_size_bytes gauge"
            echo "plancheck_backup_last_success_size_bytes{type=\"$type\"} $bytes"
            echo "# HELP plancheck_backup_last_success_duration_seconds Duration of the last successful backup."
            echo "# TYPE plancheck_backup_last_success_duration_seconds gauge"
            echo "plancheck_backup_last_success_duration_seconds{type=\"$type\"} $duration"
        fi
        echo "# HELP plancheck_backup_chains Number of backup chains kept."
        echo "# TYPE plancheck_backup_chains gauge"
        echo "plancheck_backup_chains $(find "$BACKUP_ROOT/chains" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)"
        echo "# HELP plancheck_backup_retention_days Configured retention in days."
        echo "# TYPE plancheck_backup_retention_days gauge"
        echo "plancheck_backup_retention_days $RETENTION_DAYS"
    } >"$tmp"
    chmod 0644 "$tmp"
    mv "$tmp" "$METRICS_DIR/plancheck_backup.prom"
}

exec 9>"$LOCK"
flock -n 9 || { log "another backup is running"; exit 1; }
umask 027
[[ -r $KEY_FILE && -s $KEY_FILE ]] || { log "encryption key $KEY_FILE missing or unreadable"; write_metrics 0; exit 1; }
case "$KEY_FILE" in "$BACKUP_ROOT"/*) log "refusing: KEY_FILE lies inside BACKUP_ROOT"; write_metrics 0; exit 1 ;; esac
mkdir -p "$BACKUP_ROOT/chains"
work=$(mktemp -d /tmp/plancheck-backup.XXXXXX)
target=""
on_exit() {
    local rc=$?
    rm -rf -- "$work"
    [[ $rc -eq 0 ]] && return
    log "FAILED (rc=$rc)"
    # never leave a half-written backup behind (it could become an incremental base)
    if [[ -n $target && ! -f $target/manifest.json ]]; then rm -rf -- "$target"; fi
    write_metrics 0
}
trap on_exit EXIT

# complete members of a chain (a manifest is written last), oldest first (names start with a UTC ts)
members() {
    local d
    for d in "$1"/*-full "$1"/*-inc; do
        if [[ -f $d/manifest.json ]]; then echo "$d"; fi
    done | sort
}
mfield() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1/manifest.json" "$2"; }
epoch() { date -u -d "$1" +%s; }

chain=$(find "$BACKUP_ROOT/chains" -mindepth 1 -maxdepth 1 -type d | sort | tail -n1)
base=""
[[ -n $chain ]] && base=$(members "$chain" | tail -n1)
now=$(date +%s)
if [[ $MODE == auto ]]; then
    if [[ -z $base ]]; then
        MODE=full
    elif [[ ${INCREMENTAL,,} != yes ]]; then
        MODE=full
    elif (( now - $(epoch "$(mfield "$(members "$chain" | head -n1)" end)") >= FULL_EVERY_DAYS * 86400 - 3600 )); then
        MODE=full
    else
        MODE=incremental
    fi
fi
[[ $MODE == incremental && -z $base ]] && { log "no full backup to increment on; taking a full one"; MODE=full; }

checksums() {  # checksums OUT: "db.table<TAB>checksum<TAB>rows" for every table the backup user can read
    local sql t
    sql=$(mariadb --defaults-extra-file="$CLIENT_CNF" -N -B -e "SELECT CONCAT('\`', REPLACE(table_schema, '\`', '\`\`'),
        '\`.\`', REPLACE(table_name, '\`', '\`\`'), '\`') FROM information_schema.tables WHERE table_type = 'BASE TABLE'
        AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1" \
        | while read -r t; do echo "CHECKSUM TABLE $t; SELECT COUNT(*) FROM $t;"; done)
    [[ -z $sql ]] && { : >"$1"; return; }
    mariadb --defaults-extra-file="$CLIENT_CNF" -N -B -e "$sql" | paste - - | awk -F'\t' '{print $1 "\t" $2 "\t" $3}' >"$1"
}

ts=$(date -u +%Y%m%dT%H%M%SZ)
from_lsn=0
extra=()
if [[ $MODE == full ]]; then
    chain="$BACKUP_ROOT/chains/$ts"
    target="$chain/$ts-full"
    base=""
else
    target="$chain/$ts-inc"
    from_lsn=$(mfield "$base" to_lsn)
    [[ -n $from_lsn ]] || { log "base ${base#"$BACKUP_ROOT"/} has no to_lsn"; exit 1; }
    extra=(--incremental-lsn="$from_lsn")
fi
mkdir -p "$target" "$work/lsn" "$work/tmp"
log "starting $MODE backup -> ${target#"$BACKUP_ROOT"/}${base:+ (base ${base##*/}, from LSN $from_lsn)}"
start_iso=$(date -u +%FT%TZ); start=$(date +%s)
checksums "$work/before.tsv"
mariabackup --defaults-extra-file="$CLIENT_CNF" --backup --stream=mbstream \
    --datadir="$DATADIR" --target-dir="$work/tmp" --extra-lsndir="$work/lsn" "${extra[@]}" \
    2>"$target/mariabackup.log" \
  | openssl enc -"$CIPHER" -salt -pbkdf2 -iter "$PBKDF2_ITER" -pass "file:$KEY_FILE" -out "$target/backup.mbstream.enc"
grep -q "completed OK" "$target/mariabackup.log" || { tail -n 20 "$target/mariabackup.log"; log "mariabackup did not report success"; exit 1; }
checksums "$work/after.tsv"
end_iso=$(date -u +%FT%TZ); end=$(date +%s)

python3 - "$target" "$MODE" "${base##*/}" "$start_iso" "$end_iso" "$work" "$CIPHER" "$PBKDF2_ITER" "$KEY_FILE" <<'PY'
import hashlib, json, os, subprocess, sys
target, mode, base, start, end, work, cipher, iters, key_file = sys.argv[1:]
def kv(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.split("=", 1); out[k.strip()] = v.strip()
    return out
def tsv(path):
    out = {}
    for line in open(path):
        p = line.rstrip("\n").split("\t")
        if len(p) == 3:
            out[p[0]] = (p[1], p[2])
    return out
cp = kv(os.path.join(work, "lsn", "xtrabackup_checkpoints"))
info = kv(os.path.join(work, "lsn", "xtrabackup_info"))
before, after = tsv(os.path.join(work, "before.tsv")), tsv(os.path.join(work, "after.tsv"))
tables = {}
for name, (ck, rows) in after.items():
    same = before.get(name) == (ck, rows)
    tables[name] = {"checksum": int(ck) if same and ck.isdigit() else None,
                    "rows": int(rows) if same and rows.isdigit() else None}
payload = os.path.join(target, "backup.mbstream.enc")
h = hashlib.sha256()
with open(payload, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
ver = subprocess.run(["mariabackup", "--version"], capture_output=True, text=True).stderr.strip() or \
      subprocess.run(["mariabackup", "--version"], capture_output=True, text=True).stdout.strip()
manifest = {
    "format": 1, "type": "full" if mode == "full" else "incremental", "name": os.path.basename(target),
    "chain": os.path.basename(os.path.dirname(target)), "base": base or None,
    "from_lsn": int(cp.get("from_lsn", "0")), "to_lsn": int(cp.get("to_lsn", "0")),
    "last_lsn": int(cp.get("last_lsn", "0")), "start": start, "end": end, "tool": ver.splitlines()[0] if ver else "mariabackup",
    "binlog_pos": info.get("binlog_pos", ""),
    "payload": {"file": "backup.mbstream.enc", "bytes": os.path.getsize(payload), "sha256": h.hexdigest(),
                "format": "mbstream"},
    "encryption": {"cipher": cipher, "kdf": "pbkdf2", "iter": int(iters), "key": f"file:{key_file} (not stored here)"},
    "tables": tables,
}
tmp = os.path.join(target, ".manifest.json.tmp")
with open(tmp, "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
os.rename(tmp, os.path.join(target, "manifest.json"))
PY
bytes=$(du -sb "$target" | cut -f1)
{ echo "type=$MODE"; echo "ts=$end"; echo "bytes=$bytes"; echo "duration=$((end - start))"; } >"$BACKUP_ROOT/.last_success"
echo "${target#"$BACKUP_ROOT"/}" >"$BACKUP_ROOT/LATEST"
log "done: $MODE backup ${target#"$BACKUP_ROOT"/} of $bytes bytes in $((end - start))s"

# ---- retention: drop whole chains whose newest member is older than the window
current=$(dirname "$target")
find "$BACKUP_ROOT/chains" -mindepth 1 -maxdepth 1 -type d | sort | while read -r c; do
    [[ $c == "$current" ]] && continue
    newest=$(members "$c" | tail -n1)
    if [[ -z $newest ]] || (( end - $(epoch "$(mfield "$newest" end)") > RETENTION_DAYS * 86400 )); then
        why="newest member older than $RETENTION_DAYS days"; [[ -n $newest ]] || why="no complete backup in it"
        log "retention: removing chain ${c#"$BACKUP_ROOT"/} ($why)"
        rm -rf -- "$c"
    fi
done
# unfinished members (no manifest) of the current chain, older than a day
find "$current" -mindepth 1 -maxdepth 1 -type d -mmin +1440 ! -exec test -f '{}/manifest.json' ';' -print0 \
    | xargs -0 -r rm -rf --

write_metrics 1
trap - EXIT
rm -rf -- "$work"
