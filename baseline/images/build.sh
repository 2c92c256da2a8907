#!/usr/bin/env bash
# Build (or reuse) every image of the plancheck baseline, offline-friendly:
#   * plancheck/base:<hash>  is a Debian 12 minbase rootfs made with debootstrap
#     and `docker import`ed (no registry is ever contacted);
#   * every service image is `FROM ${BASE_IMAGE}` (the local base tag, passed
#     as a build arg) and tagged plancheck/<name>:<hash>, where <hash> covers
#     the recipe directory (plus extra context such as the stand-in app code)
#     and the base hash.  An image whose tag already exists is reused.
# The resolved tags are written to baseline/.images.env for compose.
#
# Usage: baseline/images/build.sh [--force] [name...]
#   --force      rebuild even when the tag exists
#   name...      only these images (the base is always resolved)
# Env: PLANCHECK_BUILD_JOBS (parallel builds, default 3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
baseline=$(cd "$here/.." && pwd)
cache="$baseline/.cache"
logs="$cache/build-logs"
DOCKER=${DOCKER:-/usr/bin/docker}
export DOCKER_BUILDKIT=0
jobs=${PLANCHECK_BUILD_JOBS:-3}
force=0
only=()
for a in "$@"; do
    case "$a" in
        --force) force=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) only+=("$a") ;;
    esac
done

# name | recipe dir (under images/) | extra context "src:dest" (relative to baseline/)
IMAGES=(
    "mariadb|mariadb|"
    "redis|redis|"
    "nginx|nginx|"
    "prometheus|prometheus|"
    "alertmanager|alertmanager|"
    "node-exporter|node-exporter|"
    "mysqld-exporter|mysqld-exporter|"
    "redis-exporter|redis-exporter|"
    "standin|standin|apps/standin:app"
    "backup|backup|"
    "ssh-bastion|ssh-bastion|"
    "log-collector|log-collector|"
    "idp|idp|"
)

mkdir -p "$cache" "$logs"
log() { printf '[build] %s\n' "$*" >&2; }

# Content hash of files (path + bytes), independent of mtimes.
hash_paths() {
    local p
    for p in "$@"; do
        (cd "$p" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
            | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    done | sha256sum | cut -c1-12
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- base image
base_hash=$(hash_paths "$here/base")
BASE="plancheck/base:$base_hash"
if [[ $force -eq 0 ]] && image_exists "$BASE"; then
    log "reused  $BASE"
else
    tarball="$cache/rootfs-$base_hash.tar"
    if [[ ! -s "$tarball" ]]; then
        command -v debootstrap >/dev/null || { log "debootstrap missing (apt-get install debootstrap)"; exit 1; }
        [[ $(id -u) -eq 0 ]] || { log "debootstrap needs root"; exit 1; }
        work=$(mktemp -d "$cache/rootfs.XXXXXX")
        trap 'umount "$work/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
        log "debootstrap bookworm (minbase) -> $tarball (takes a few minutes once)"
        t0=$SECONDS
        sh "$here/base/mkrootfs.sh" "$work" >"$logs/base.log" 2>&1 \
            || { tail -n 30 "$logs/base.log" >&2; log "rootfs build FAILED (log: $logs/base.log)"; exit 1; }
        tar --numeric-owner -C "$work" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$work"; trap - EXIT
        log "rootfs done in $((SECONDS - t0))s"
        # Drop tarballs of older base recipes.
        find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$base_hash.tar" -delete
    else
        log "cached rootfs $tarball"
    fi
    "$DOCKER" import \
        -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' \
        -c "LABEL io.plancheck.recipe-hash=$base_hash io.plancheck.image=base" \
        -m "plancheck base: debian bookworm minbase ($base_hash)" \
        "$tarball" "$BASE" >/dev/null
    log "built   $BASE"
fi

# ------------------------------------------------------------ service images
build_one() {  # name recipe extra -> prints "built|reused tag"
    local name=$1 recipe=$2 extra=$3 h tag ctx src dest
    local paths=("$here/$recipe")
    if [[ -n $extra ]]; then paths+=("$baseline/${extra%%:*}"); fi
    h=$( { echo "$base_hash"; hash_paths "${paths[@]}"; } | sha256sum | cut -c1-12)
    tag="plancheck/$name:$h"
    if [[ $force -eq 0 ]] && image_exists "$tag"; then
        echo "reused  $tag"; return 0
    fi
    ctx=$(mktemp -d "$cache/ctx-$name.XXXXXX")
    cp -a "$here/$recipe/." "$ctx/"
    if [[ -n $extra ]]; then
        src=${extra%%:*}; dest=${extra#*:}
        mkdir -p "$ctx/$dest"; cp -a "$baseline/$src/." "$ctx/$dest/"
        find "$ctx/$dest" -name '__pycache__' -type d -prune -exec rm -rf {} +
    fi
    if "$DOCKER" build --pull=false --rm --force-rm \
            --build-arg "BASE_IMAGE=$BASE" \
            --label "io.plancheck.recipe-hash=$h" --label "io.plancheck.image=$name" \
            --label "io.plancheck.base=$BASE" \
            -t "$tag" "$ctx" >"$logs/$name.log" 2>&1; then
        rm -rf "$ctx"; echo "built   $tag"
    else
        rm -rf "$ctx"; echo "FAILED  $tag (log: $logs/$name.log)"; return 1
    fi
}

selected=()
for row in "${IMAGES[@]}"; do
    IFS='|' read -r name recipe extra <<<"$row"
    if [[ ${#only[@]} -gt 0 ]] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
    selected+=("$row")
done

t0=$SECONDS
# Run up to $jobs builds at once; results are collected in files.
resdir=$(mktemp -d "$cache/results.XXXXXX")
running=0
for row in "${selected[@]}"; do
    IFS='|' read -r name recipe extra <<<"$row"
    ( build_one "$name" "$recipe" "$extra" >"$resdir/$name" 2>&1 || echo "rc=1" >>"$resdir/$name" ) &
    running=$((running + 1))
    if (( running >= jobs )); then wait -n || true; running=$((running - 1)); fi
done
wait
fail=0
for row in "${selected[@]}"; do
    IFS='|' read -r name recipe extra <<<"$row"
    out=$(cat "$resdir/$name")
    log "$(head -n1 <<<"$out")"
    if grep -q -e '^FAILED' -e '^rc=1' <<<"$out"; then
        fail=1; tail -n 25 "$logs/$name.log" >&2 || true
    fi
done
rm -rf "$resdir"
(( fail == 0 )) || { log "image build failed"; exit 1; }
log "service images resolved in $((SECONDS - t0))s"

# ------------------------------------------------------------- .images.env
# Recompute all tags (cheap) so the file is complete even with a name filter.
envfile="$baseline/.images.env"
tmp=$(mktemp "$baseline/.images.env.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
    echo "# Generated by baseline/images/build.sh -- do not edit, do not commit."
    echo "PLANCHECK_IMG_BASE=$BASE"
    for row in "${IMAGES[@]}"; do
        IFS='|' read -r name recipe extra <<<"$row"
        paths=("$here/$recipe")
        [[ -n $extra ]] && paths+=("$baseline/${extra%%:*}")
        h=$( { echo "$base_hash"; hash_paths "${paths[@]}"; } | sha256sum | cut -c1-12)
        var=PLANCHECK_IMG_$(tr 'a-z-' 'A-Z_' <<<"$name")
        image_exists "plancheck/$name:$h" || log "warning: plancheck/$name:$h not built"
        echo "$var=plancheck/$name:$h"
    done
} >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$envfile"
trap - EXIT
log "wrote $envfile"

# ------------------------------------------------- drop superseded image tags
# (set PLANCHECK_KEEP_OLD_IMAGES=1 to keep them; images in use are kept anyway)
if [[ ${PLANCHECK_KEEP_OLD_IMAGES:-0} != 1 ]]; then
    current=$(sed -n 's/^PLANCHECK_IMG_[A-Z_]*=//p' "$envfile")
    { "$DOCKER" images --filter label=io.plancheck.image --format '{{.Repository}}:{{.Tag}}' \
        | grep '^plancheck/' | grep -vxF "$current" || true; } | while read -r old; do
            if "$DOCKER" rmi "$old" >/dev/null 2>&1; then log "removed superseded $old"; fi
        done
fi
