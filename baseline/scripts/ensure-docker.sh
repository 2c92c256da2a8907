#!/usr/bin/env bash
# Make sure the tools the baseline needs are installed and dockerd is running.
#   - Debian packages (root only, when missing): docker.io docker-compose
#     debootstrap openssl iptables iproute2 curl
#   - dockerd started in the background (log: /var/log/dockerd.log) when the
#     socket does not answer; waits up to 60 s for it.
# Uses /usr/bin/docker (Debian's 20.10 client) and docker-compose 1.29 (v1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PLANCHECK_STEP=docker

missing=()
[[ -x /usr/bin/docker ]] || missing+=(docker.io)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v openssl >/dev/null || missing+=(openssl)
command -v iptables >/dev/null || missing+=(iptables)
command -v ip >/dev/null || missing+=(iproute2)
command -v curl >/dev/null || missing+=(curl)
if [[ ${#missing[@]} -gt 0 ]]; then
    need_root
    msg "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

compose_version=$(docker-compose version --short 2>/dev/null || true)
[[ $compose_version == 1.* ]] || msg "warning: docker-compose $compose_version found; the baseline is written for 1.29 (v1)"

# The daemon's hardening (CIS Docker 2.x: icc off, live restore, no userland proxy, no new
# privileges, bounded logs, ulimits) is config/docker/daemon.json; the DKR-0xx controls read it back
# from the running daemon. It is installed where dockerd and every CIS tool look for it,
# /etc/docker/daemon.json, unless that file exists with other content (then dockerd started here
# gets --config-file and a warning says so). A dockerd this script started earlier (plain `dockerd`
# or with our --config-file) that does not run with the current file is restarted (live-restore
# keeps the containers running); one started by anyone else is left alone and warned about: the
# audit then reports what it runs with.
daemon_json=$BASELINE/config/docker/daemon.json
etc_json=/etc/docker/daemon.json
dockerd_args=()
changed=0
if [[ ! -e $etc_json ]] || cmp -s "$daemon_json" "$etc_json"; then
    if ! cmp -s "$daemon_json" "$etc_json" 2>/dev/null; then
        need_root
        install -D -o root -g root -m 0644 "$daemon_json" "$etc_json"
        msg "installed $etc_json (the baseline's daemon hardening)"
        changed=1
    fi
else
    msg "warning: $etc_json exists with other settings: dockerd started here uses --config-file $daemon_json"
    dockerd_args=(--config-file "$daemon_json")
fi
start_dockerd() {
    msg "starting dockerd ${dockerd_args[*]} (log: /var/log/dockerd.log)"
    setsid nohup dockerd "${dockerd_args[@]}" >/var/log/dockerd.log 2>&1 </dev/null &
}
running_pid=$(pgrep -xo dockerd || true)
if [[ -n $running_pid ]]; then
    running_cmd=$(tr '\0' ' ' </proc/"$running_pid"/cmdline | sed 's/ $//')
    wanted_cmd=$(echo "dockerd ${dockerd_args[*]}" | sed 's/ $//')
    ours=0
    [[ $running_cmd == dockerd || $running_cmd == "dockerd --config-file $daemon_json" ]] && ours=1
    if [[ $ours == 1 && ( $running_cmd != "$wanted_cmd" || $changed == 1 ) ]]; then
        need_root
        msg "dockerd ($running_cmd) does not run with the current daemon.json: restarting it"
        kill -TERM "$running_pid"
        for _ in $(seq 1 30); do kill -0 "$running_pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$running_pid" 2>/dev/null && die "dockerd ($running_pid) did not stop"
        start_dockerd
    elif [[ $ours == 0 ]]; then
        msg "warning: dockerd runs as '$running_cmd' (not started by this script): DKR-0xx will report its own settings"
    fi
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
    need_root
    if ! pgrep -x dockerd >/dev/null; then
        start_dockerd
    fi
    for _ in $(seq 1 60); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 1
    done
    "$DOCKER" info >/dev/null 2>&1 || die "dockerd did not come up (see /var/log/dockerd.log)"
fi
msg "docker $("$DOCKER" version --format '{{.Server.Version}}'), docker-compose $compose_version ready"
