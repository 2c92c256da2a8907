#!/usr/bin/env bash
# Deploy-time PKI for the plancheck baseline (output: baseline/.pki/, git-ignored).
#
#   .pki/ca/ca.crt, ca.key                 platform CA (EC P-256, 5 years)
#   .pki/services/<svc>/tls.crt,tls.key,ca.crt
#                                          server cert per service: CN and SAN =
#                                          service name + localhost + 127.0.0.1
#                                          (gateway/admin-portal: + public/VPN IPs);
#                                          EKU serverAuth+clientAuth so a service can
#                                          present its own cert in its healthcheck
#   .pki/clients/<name>/tls.crt,tls.key,ca.crt
#                                          client certs (EKU clientAuth): gateway,
#                                          prometheus, plancheck-audit, app, exporter,
#                                          backup, admin, admin-portal (-> idp)
#   .pki/mariadb-encryption/keyfile        file_key_management key file, "1;<64 hex>"
#                                          (256-bit); created once, NEVER rotated here
#
# Idempotent: anything present and valid (verifies against the CA, key matches,
# same SAN, more than 30 days left) is kept.  Keys are owned by the uid of the
# container that reads them, mode 0400; certificates are 0644.
# Usage: pki.sh [--force]   (--force: new CA and leaves; the MariaDB key is kept)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PLANCHECK_STEP=pki
need_root
command -v openssl >/dev/null || { apt-get install -y -qq openssl >/dev/null || die "openssl missing"; }

DAYS_CA=1825
DAYS_LEAF=365
RENEW_BEFORE=$((30 * 24 * 3600))
PUBLIC_IP=${PLANCHECK_PUBLIC_ADDRESS:-203.0.113.1}
VPN_IP=${PLANCHECK_VPN_ADDRESS:-203.0.113.5}
ORG="plancheck baseline"

# service name -> uid that must read the key
declare -A SERVICES=(
    [gateway]=$UID_NGINX [admin-portal]=$UID_NGINX
    [api-server]=$UID_APP [chat-server]=$UID_APP [auth-server]=$UID_APP
    [llm-server]=$UID_APP [vector-db]=$UID_APP [training-server]=$UID_APP
    [mariadb]=$UID_MYSQL [redis]=$UID_REDIS
    [prometheus]=$UID_PROMETHEUS [alertmanager]=$UID_PROMETHEUS
    [node-exporter]=$UID_PROMETHEUS [mysqld-exporter]=$UID_PROMETHEUS
    [redis-exporter]=$UID_NGINX   # served by redis-exporter-tls (nginx) in front of the exporter
    [log-collector]=$UID_LOGS
    [alert-sink]=$UID_APP         # Alertmanager's webhook receiver (the stand-in app)
    [dcgm-exporter]=$UID_PROMETHEUS  # GPU host only (compose.gpu.yaml)
    [idp]=$UID_IDP                # identity provider (LemonLDAP::NG)
    # defined under the [registry] profile only (never started here)
    [elasticsearch]=1000 [grafana]=472
)
declare -A CLIENTS=(
    [gateway]=$UID_NGINX          # gateway -> app services (mTLS upstreams)
    [prometheus]=$UID_PROMETHEUS  # scrapes, alertmanager
    [exporter]=$UID_PROMETHEUS    # mysqld-exporter -> MariaDB, redis-exporter -> Redis
    [backup]=$UID_MYSQL           # mariabackup -> MariaDB
    [app]=$UID_APP                # application services -> MariaDB/Redis
    [plancheck-audit]=$UID_ROOT   # the plancheck audit engine (host)
    [admin]=$UID_ROOT             # operators -> admin portal (over the VPN)
    [admin-portal]=$UID_NGINX     # admin portal -> idp (auth_request, compose profile idp)
)

umask 022
mkdir -p "$PKI_DIR/ca" "$PKI_DIR/services" "$PKI_DIR/clients" "$PKI_DIR/mariadb-encryption"
chmod 0755 "$PKI_DIR" "$PKI_DIR/services" "$PKI_DIR/clients"
chmod 0700 "$PKI_DIR/ca"
CA_CRT="$PKI_DIR/ca/ca.crt"
CA_KEY="$PKI_DIR/ca/ca.key"
force=0; [[ ${1:-} == --force ]] && force=1

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
created=0; kept=0

ca_valid() {
    [[ -s $CA_CRT && -s $CA_KEY ]] || return 1
    openssl x509 -in "$CA_CRT" -noout -checkend "$RENEW_BEFORE" >/dev/null 2>&1 || return 1
    [[ $(openssl x509 -in "$CA_CRT" -noout -pubkey | sha256sum) == \
       $(openssl pkey -in "$CA_KEY" -pubout | sha256sum) ]]
}

if [[ $force -eq 1 ]] || ! ca_valid; then
    msg "creating platform CA"
    cat >"$tmp/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = $ORG
CN = plancheck platform CA
[v3_ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$tmp/ca.key" -config "$tmp/ca.cnf" -days "$DAYS_CA" \
        -sha256 -set_serial "0x$(openssl rand -hex 16)" -out "$tmp/ca.crt"
    install -m 0600 -o 0 -g 0 "$tmp/ca.key" "$CA_KEY"
    install -m 0644 -o 0 -g 0 "$tmp/ca.crt" "$CA_CRT"
    created=$((created + 1))
fi

# leaf <dir> <cn> <uid> <eku> <san|"">
leaf() {
    local dir=$1 cn=$2 uid=$3 eku=$4 san=$5 spec
    spec="cn=$cn;eku=$eku;san=$san;ca=$(openssl x509 -in "$CA_CRT" -noout -fingerprint -sha256)"
    mkdir -p "$dir"; chmod 0755 "$dir"
    if [[ $force -eq 0 && -s $dir/tls.crt && -s $dir/tls.key && -s $dir/spec ]] \
        && [[ $(cat "$dir/spec") == "$spec" ]] \
        && openssl verify -CAfile "$CA_CRT" "$dir/tls.crt" >/dev/null 2>&1 \
        && openssl x509 -in "$dir/tls.crt" -noout -checkend "$RENEW_BEFORE" >/dev/null 2>&1 \
        && [[ $(openssl x509 -in "$dir/tls.crt" -noout -pubkey | sha256sum) == \
              $(openssl pkey -in "$dir/tls.key" -pubout 2>/dev/null | sha256sum) ]]; then
        kept=$((kept + 1))
    else
        {
            echo "basicConstraints = critical,CA:FALSE"
            echo "keyUsage = critical,digitalSignature"
            echo "extendedKeyUsage = $eku"
            echo "subjectKeyIdentifier = hash"
            echo "authorityKeyIdentifier = keyid"
            [[ -n $san ]] && echo "subjectAltName = $san"
        } >"$tmp/ext.cnf"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/leaf.key" 2>/dev/null
        openssl req -new -key "$tmp/leaf.key" -subj "/O=$ORG/CN=$cn" -out "$tmp/leaf.csr"
        openssl x509 -req -in "$tmp/leaf.csr" -CA "$CA_CRT" -CAkey "$CA_KEY" \
            -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS_LEAF" -sha256 \
            -extfile "$tmp/ext.cnf" -out "$tmp/leaf.crt" 2>/dev/null
        install -m 0644 "$tmp/leaf.crt" "$dir/tls.crt"
        install -m 0400 "$tmp/leaf.key" "$dir/tls.key"
        printf '%s\n' "$spec" >"$dir/spec"
        created=$((created + 1))
    fi
    install -m 0644 "$CA_CRT" "$dir/ca.crt"
    chown "$uid:$uid" "$dir/tls.key"; chmod 0400 "$dir/tls.key"
}

for svc in "${!SERVICES[@]}"; do
    san="DNS:$svc,DNS:localhost,IP:127.0.0.1"
    case $svc in
        gateway) san="$san,IP:$PUBLIC_IP,IP:$VPN_IP" ;;
        admin-portal) san="$san,IP:$VPN_IP" ;;
    esac
    leaf "$PKI_DIR/services/$svc" "$svc" "${SERVICES[$svc]}" "serverAuth,clientAuth" "$san"
done
for c in "${!CLIENTS[@]}"; do
    leaf "$PKI_DIR/clients/$c" "$c" "${CLIENTS[$c]}" "clientAuth" ""
done

# MariaDB data-at-rest key (file_key_management): key id 1, AES-256.
# Never regenerated: existing encrypted data would become unreadable.
keyfile="$PKI_DIR/mariadb-encryption/keyfile"
if [[ ! -s $keyfile ]]; then
    printf '1;%s\n' "$(openssl rand -hex 32)" >"$tmp/keyfile"
    install -m 0400 "$tmp/keyfile" "$keyfile"
    msg "created MariaDB encryption key file"
    created=$((created + 1))
fi
grep -Eq '^1;[0-9a-f]{64}$' "$keyfile" || die "$keyfile is not a file_key_management key file"
chmod 0755 "$PKI_DIR/mariadb-encryption"
chown "$UID_MYSQL:$UID_MYSQL" "$keyfile"; chmod 0400 "$keyfile"

msg "PKI ready in $PKI_DIR ($created created, $kept kept)"
