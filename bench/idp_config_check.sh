#!/usr/bin/env bash
# Try the identity provider's configuration without Docker: LemonLDAP::NG 2.16 from Debian 12's
# packages (apt-get download, unpacked under a temporary directory, nothing installed), prepared by
# the image's own entrypoint (IDP_PREPARE_ONLY=1: lmConf render, cipher key ini, TOTP seeding),
# then the portal and the handler driven in-process (Plack::Test) through the flows the audit
# checks: login, TOTP, per-route rules by group and level, anonymous redirect, logout, fixation.
# Differences from the image: the password check is LemonLDAP::NG's Demo backend (password = user
# name) instead of PAM (pam_pwdfile needs /etc/pam.d), and Image::Magick (loaded by the captcha
# module, never used) is a stub. Prints one line per flow; exits 1 on the first surprise.
# Usage: bench/idp_config_check.sh   (needs apt-get with Debian 12 sources, perl 5.36, openssl)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
H=${IDP_CHECK_DIR:-$(mktemp -d /tmp/idp-check.XXXXXX)}
mkdir -p "$H/debs" "$H/root" "$H/stub/Image"
if [[ ! -d $H/root/usr/share/perl5/Lemonldap ]]; then
    pkgs=$(apt-get install -s --no-install-recommends lemonldap-ng lemonldap-ng-fastcgi-server \
        libconvert-base32-perl libdigest-hmac-perl libstring-random-perl libgd-securityimage-perl \
        libapache-session-perl 2>/dev/null | awk '/^Inst/{print $2}' | grep -E 'perl|lemonldap')
    (cd "$H/debs" && apt-get download $pkgs libapache-session-perl libgd-securityimage-perl libgd-perl \
        libjson-perl libwww-perl liburi-perl libhtml-template-perl >/dev/null 2>&1)
    for f in "$H"/debs/*.deb; do dpkg-deb -x "$f" "$H/root"; done
fi
printf 'package Image::Magick;\nour $VERSION = "6.9";\nsub new { bless {}, shift }\n1;\n' >"$H/stub/Image/Magick.pm"
export PERL5LIB=$H/stub:$H/root/usr/share/perl5:$H/root/usr/lib/x86_64-linux-gnu/perl5/5.36
export LLNG_DEFAULTCONFFILE=$H/run/lemonldap-ng.ini LLNG_DEFAULTLOGGER=Lemonldap::NG::Common::Logger::Std
rm -rf "$H/state" "$H/run" "$H/secrets"; mkdir -p "$H/state/conf" "$H/run" "$H/secrets"
sed -e "s#/var/lib/lemonldap-ng#$H/state#g" -e 's#"authentication" : "PAM"#"authentication" : "Demo"#' \
    "$repo/baseline/config/idp/lmConf-1.json" >"$H/lmConf-src.json"
sed -e "s#/var/lib/lemonldap-ng#$H/state#g" -e "s#/usr/share/lemonldap-ng#$H/root/usr/share/lemonldap-ng#" \
    "$repo/baseline/config/idp/lemonldap-ng.ini" >"$H/ini-src"
openssl rand -hex 24 >"$H/secrets/idp_cipher_key"
secret=$(openssl rand 20 | base32 | tr -d '=\n')
echo "pc-admin $secret" >"$H/secrets/idp_totp_seeds"
IDP_CONF_SRC=$H/lmConf-src.json IDP_INI_SRC=$H/ini-src IDP_STATE=$H/state IDP_RUN=$H/run \
    IDP_SECRETS=$H/secrets IDP_PREPARE_ONLY=1 bash "$repo/baseline/images/idp/entrypoint.sh"
TOTP_SECRET=$secret perl "$here/idp_config_check.pl" 2>"$H/llng.log" || { tail -n 20 "$H/llng.log" >&2; exit 1; }
echo "ok (LemonLDAP::NG log: $H/llng.log)"
