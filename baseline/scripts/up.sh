#!/usr/bin/env bash
# Bring the plancheck baseline up (idempotent):
#   1. ensure-docker.sh    tools + dockerd
#   2. images/build.sh     build or reuse the local images (never pulls)
#   3. pki.sh, secrets.sh  deploy-time TLS material and secrets (kept if valid)
#   4. netns.sh up         vantage namespaces + firewall (VPN address first)
#   5. compose up -d       compose.yaml + compose.local.yaml
#   6. wait until every started container is healthy (PLANCHECK_UP_TIMEOUT, 300 s)
#   7. smoke test from the pc-ext namespace through the gateway
#   8. make sure a MariaDB backup exists (full on first run, via the backup
#      container), so there is something to audit
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
export PLANCHECK_STEP=up
need_root
T0=$SECONDS
TIMEOUT=${PLANCHECK_UP_TIMEOUT:-300}
step() { msg "[$((SECONDS - T0))s] $*"; }

step "docker";  "$here/ensure-docker.sh"
step "images";  "$BASELINE/images/build.sh"
step "pki";     "$here/pki.sh"
step "secrets"; "$here/secrets.sh"
# The backups' own encryption passphrase (AES-256, config/backup/backup.conf KEY_FILE): generated
# once, kept in the git-ignored secrets, mounted read-only into the backup container only.
backup_key="$SECRETS_DIR/backup/backup.key"
if [[ ! -s $backup_key ]]; then
    mkdir -p "$(dirname "$backup_key")"
    (umask 077; openssl rand -hex 32 >"$backup_key.tmp") && mv "$backup_key.tmp" "$backup_key"
    msg "generated the backup encryption key (.secrets/backup/backup.key)"
fi
chown "$UID_MYSQL:$UID_MYSQL" "$backup_key"; chmod 0400 "$backup_key"
# node-exporter's textfile directory (a host directory, so the audit on the host can write its
# --prom-textfile there): the backup job (uid 10001) writes its status, node-exporter (uid 10004)
# reads; the audit writes as root.
install -d -o "$UID_MYSQL" -g "$UID_MYSQL" -m 0755 "$BASELINE/.textfile"
step "netns";   "$here/netns.sh" up
# A deployment of this project made from another checkout (another clone, CI's) holds data
# encrypted with that checkout's keys (MariaDB's key file, the backups' passphrase) and mounts its
# certificates: it cannot be adopted. Remove it with its volumes and deploy from scratch.
project=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' "$BASELINE/.env")
foreign=$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$project" \
    | xargs -r "$DOCKER" inspect -f '{{range .Mounts}}{{if eq .Type "bind"}}{{.Source}}{{"\n"}}{{end}}{{end}}' \
    | grep '/baseline/' | grep -v "^$BASELINE/" | head -n 1 || true)
if [[ -n $foreign ]]; then
    step "a deployment from another checkout is running ($(dirname "$(dirname "$foreign")")...): removing it and its volumes"
    "$here/compose.sh" down -v --remove-orphans >/dev/null 2>&1 || true
    "$DOCKER" ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r "$DOCKER" rm -f >/dev/null
    "$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r "$DOCKER" volume rm >/dev/null
fi
# Compose only notices changes to its own files and image tags; bind-mounted
# configuration, certificates and secrets are tracked here: when any of them
# changed since the last successful deployment, recreate the containers.
material() {
    (cd "$BASELINE" && find config apps .pki .secrets -type f ! -name spec -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}
stamp="$BASELINE/.cache/deployed-material"
mkdir -p "$BASELINE/.cache"
now_material=$(material)
recreate=()
if [[ -n $("$here/compose.sh" ps -q 2>/dev/null) ]] && [[ ! -f $stamp || $(cat "$stamp") != "$now_material" ]]; then
    step "configuration/PKI/secrets changed since the last successful deployment: recreating containers"
    recreate=(--force-recreate)
fi
rm -f "$stamp"   # rewritten once everything is healthy
step "compose up"
"$here/compose.sh" up -d --remove-orphans "${recreate[@]}"

step "waiting for every container to be healthy (timeout ${TIMEOUT}s)"
deadline=$((SECONDS + TIMEOUT))
declare -A first_restarts=()   # restart counts when first seen: crash-looping = 3 more
while :; do
    mapfile -t ids < <("$here/compose.sh" ps -q)
    [[ ${#ids[@]} -gt 0 ]] || die "no containers started"
    not_ready=()
    crashing=()
    while read -r name state health restarts; do
        name=${name#/}
        if [[ $state != running ]]; then
            not_ready+=("$name:$state")
        elif [[ $health != healthy ]]; then
            not_ready+=("$name:$health")
        else
            continue
        fi
        [[ -n ${first_restarts[$name]:-} ]] || first_restarts[$name]=$restarts
        if (( restarts - first_restarts[$name] >= 3 )); then crashing+=("$name"); fi
    done < <("$DOCKER" inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{.RestartCount}}' "${ids[@]}")
    [[ ${#not_ready[@]} -eq 0 ]] && break
    if (( SECONDS >= deadline )) || [[ ${#crashing[@]} -gt 0 ]]; then
        if [[ ${#crashing[@]} -gt 0 ]]; then
            msg "ERROR: crash-looping: ${crashing[*]}; not ready: ${not_ready[*]}"
        else
            msg "ERROR: not healthy after ${TIMEOUT}s: ${not_ready[*]}"
        fi
        report=("${not_ready[@]}")
        [[ ${#crashing[@]} -gt 0 ]] && report=("${crashing[@]}")
        for entry in "${report[@]}"; do
            c=${entry%%:*}
            msg "---- $c: state/health and last health check output:"
            "$DOCKER" inspect -f '    state={{.State.Status}} restarts={{.RestartCount}} health={{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c" >&2 2>/dev/null || true
            "$DOCKER" inspect -f '{{if .State.Health}}{{range .State.Health.Log}}    {{.End}} exit={{.ExitCode}} {{.Output}}{{"\n"}}{{end}}{{end}}' "$c" 2>/dev/null | tail -n 3 >&2 || true
            msg "---- $c: last log lines:"
            "$DOCKER" logs --tail 15 "$c" 2>&1 | sed 's/^/    /' >&2 || true
        done
        exit 1
    fi
    sleep 3
done
step "all ${#ids[@]} containers healthy"
echo "$now_material" >"$stamp"

# Smoke test from the external vantage point: a user logs in at the identity provider's portal and
# reaches each application service through the gateway over TLS 1.3 (this also leaves their request
# logs in the log-collector's realtime class). The password goes to curl on stdin, never argv.
ca="$PKI_DIR/ca/ca.crt"
jar=$(mktemp); trap 'rm -f "$jar"' EXIT
ext_curl() { ip netns exec pc-ext curl -fsS --tlsv1.3 --cacert "$ca" --max-time 10 -c "$jar" -b "$jar" "$@"; }
token=$(ext_curl -H "Accept: text/html" https://203.0.113.1/ | sed -n 's/.*name="token" value="\([^"]*\)".*/\1/p' | head -n 1)
[[ -n $token ]] || die "smoke test failed: no login form at https://203.0.113.1/ from pc-ext"
tr -d '\n' <"$SECRETS_DIR/plancheck/idp/pc-user.password" | ext_curl -o /dev/null -H "Accept: text/html" \
    --data-urlencode user=pc-user --data-urlencode password@- --data-urlencode "token=$token" https://203.0.113.1/ \
    || die "smoke test failed: login of pc-user at https://203.0.113.1/"
for path in /api/v1/models /chat/rooms /auth/whoami; do
    code=$(ext_curl -o /dev/null -w '%{http_code}' "https://203.0.113.1$path") \
        || die "smoke test failed: https://203.0.113.1$path from pc-ext"
    [[ $code == 200 ]] || die "smoke test failed: https://203.0.113.1$path answered $code after login (expected 200)"
done
ext_curl -o /dev/null "https://203.0.113.1/?logout=1" || true
step "smoke test from pc-ext: login at the portal, gateway -> api/chat/auth over TLS 1.3 OK"
# From the VPN vantage point: one admin portal request (with the admin client certificate) and one
# key login at the SSH bastion, so the security audit class holds both sources on a fresh deployment.
code=$(ip netns exec pc-vpn curl -sS --tlsv1.3 --cacert "$ca" --cert "$PKI_DIR/clients/admin/tls.crt" \
        --key "$PKI_DIR/clients/admin/tls.key" --max-time 10 -o /dev/null -w '%{http_code}' \
        https://203.0.113.5:8443/) || die "smoke test failed: https://203.0.113.5:8443/ from pc-vpn"
[[ $code == 200 || $code == 302 ]] || die "smoke test failed: the admin portal answered $code (expected the portal or a login redirect)"
ip netns exec pc-vpn ssh -i "$SECRETS_DIR/ssh/ops_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR \
    ops@203.0.113.5 true || die "smoke test failed: key login at the SSH bastion (203.0.113.5:22) from pc-vpn"
step "smoke test from pc-vpn: admin portal (mTLS) answered $code, SSH key login OK"
smoke_at=$(date +%s)

# A backup to audit: a fresh deployment takes one (a full: `auto` starts a chain when there is
# none); later runs take one only when the last successful backup (with its manifest) is >= 24 h old
# or its status metrics are missing (a new textfile directory).
if "$here/compose.sh" exec -T --user mysql backup bash -c 'f=/backups/.last_success; l=$(cat /backups/LATEST 2>/dev/null);
        [[ -f $f && -n $l && -f /backups/$l/manifest.json && -f /metrics/plancheck_backup.prom ]] &&
        (( $(date +%s) - $(sed -n "s/^ts=//p" $f) < 86400 ))'; then
    step "recent backup present: $("$here/compose.sh" exec -T --user mysql backup cat /backups/LATEST | tr -d '\r')"
else
    step "taking a MariaDB backup (mariabackup via the backup container)"
    "$here/compose.sh" exec -T --user mysql backup bash /usr/local/bin/plancheck-backup auto \
        || { "$here/compose.sh" exec -T --user mysql backup tail -n 30 /var/log/plancheck-backup/backup-job.log >&2; die "backup failed"; }
    step "backup taken: $("$here/compose.sh" exec -T --user mysql backup cat /backups/LATEST | tr -d '\r')"
fi

"$here/compose.sh" ps
# An audit right after a deployment must find every metric family: wait until Prometheus has
# scraped every target once since the smoke test (its requests are then counted), at most 90 s.
prom_ip=$("$DOCKER" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' \
    "$("$here/compose.sh" ps -q prometheus)" | awk '{print $1}')
pki="$BASELINE/.pki"
for _ in $(seq 1 45); do
    if curl -fs --max-time 5 --cacert "$pki/ca/ca.crt" --cert "$pki/clients/plancheck-audit/tls.crt" \
            --key "$pki/clients/plancheck-audit/tls.key" --resolve "prometheus:9090:$prom_ip" \
            "https://prometheus:9090/api/v1/targets?state=active" \
        | python3 -c 'import json, sys, datetime as d
t = json.load(sys.stdin)["data"]["activeTargets"]
since = int(sys.argv[1])
ok = t and all(x["health"] == "up" and d.datetime.fromisoformat(x["lastScrape"][:19]).replace(
    tzinfo=d.timezone.utc).timestamp() > since for x in t)
sys.exit(0 if ok else 1)' "$smoke_at" 2>/dev/null; then
        step "Prometheus has scraped every target since the smoke test"
        break
    fi
    sleep 2
done
step "baseline is up (project ${COMPOSE_PROJECT_NAME:-plancheck-baseline})"
