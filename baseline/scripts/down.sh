#!/usr/bin/env bash
# Take the plancheck baseline down (idempotent): remove containers, networks
# and volumes (data, backups, logs), then the vantage namespaces and their
# firewall rules.  Images (baseline/images/build.sh), the PKI (.pki/) and the
# secrets (.secrets/) are kept, so the next up.sh is fast.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
export PLANCHECK_STEP=down
need_root
if "$DOCKER" info >/dev/null 2>&1; then
    # compose needs every PLANCHECK_IMG_* to parse the files; placeholders
    # are fine for `down` when the images were never built here.
    if [[ ! -f $BASELINE/.images.env ]]; then
        for v in $(grep -o 'PLANCHECK_IMG_[A-Z_]*' "$BASELINE/compose.yaml" | sort -u); do
            export "$v=plancheck/unbuilt:none"
        done
    fi
    "$here/compose.sh" --profile gpu --profile registry down -v --remove-orphans
else
    msg "dockerd is not running: nothing to stop"
fi
"$here/netns.sh" down
msg "baseline is down (images, .pki/ and .secrets/ kept)"
