#!/usr/bin/env bash
# docker-compose wrapper for the plancheck baseline.
#   baseline/scripts/compose.sh ps | logs -f | exec mariadb ... | config ...
# Loads baseline/.env (non-secret settings) and baseline/.images.env (image
# tags from images/build.sh), runs in the baseline/ project directory, and
# passes the deployed file list:
#   compose.yaml + compose.local.yaml                       (default)
# Override with PLANCHECK_COMPOSE_FILES, e.g.
#   PLANCHECK_COMPOSE_FILES="compose.yaml" compose.sh config    # plan only
#   PLANCHECK_COMPOSE_FILES="compose.yaml compose.gpu.yaml" compose.sh --profile gpu up -d
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -a
# shellcheck disable=SC1091
. "$BASELINE/.env"
if [[ -f $BASELINE/.images.env ]]; then
    # shellcheck disable=SC1091
    . "$BASELINE/.images.env"
fi
set +a
files=()
for f in ${PLANCHECK_COMPOSE_FILES:-compose.yaml compose.local.yaml}; do
    files+=(-f "$BASELINE/$f")
done
exec docker-compose --project-directory "$BASELINE" --env-file "$BASELINE/.env" \
    "${files[@]}" "$@"
