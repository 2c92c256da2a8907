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

if ! "$DOCKER" info >/dev/null 2>&1; then
    need_root
    if ! pgrep -x dockerd >/dev/null; then
        msg "starting dockerd (log: /var/log/dockerd.log)"
        setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
    fi
    for _ in $(seq 1 60); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 1
    done
    "$DOCKER" info >/dev/null 2>&1 || die "dockerd did not come up (see /var/log/dockerd.log)"
fi
msg "docker $("$DOCKER" version --format '{{.Server.Version}}'), docker-compose $compose_version ready"
