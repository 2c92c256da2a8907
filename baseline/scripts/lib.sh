# Shared helpers for baseline/scripts/*.sh (sourced, not executed).
# shellcheck shell=bash disable=SC2034
BASELINE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BASELINE
export DOCKER=${DOCKER:-/usr/bin/docker}   # the 20.10 client, not /usr/local/bin/docker
export DOCKER_BUILDKIT=0
PKI_DIR="$BASELINE/.pki"
SECRETS_DIR="$BASELINE/.secrets"

# Fixed container uids (see baseline/images/*/Dockerfile).  Key files and
# secrets are owned by the uid of the container that reads them.
UID_MYSQL=10001        # mariadb, backup (job)
UID_REDIS=10002        # redis
UID_NGINX=10003        # gateway, admin-portal
UID_PROMETHEUS=10004   # prometheus, alertmanager, node/mysqld/redis exporters
UID_APP=10005          # stand-in applications
UID_LOGS=10006         # log-collector
UID_IDP=10008          # idp (LemonLDAP::NG)
UID_ROOT=0             # ssh-bastion (sshd), the audit client on the host

msg() { printf '[%s] %s\n' "${PLANCHECK_STEP:-baseline}" "$*" >&2; }
die() { msg "ERROR: $*"; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root"; }
