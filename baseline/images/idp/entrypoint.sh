#!/bin/bash
# Entrypoint of the identity provider (LemonLDAP::NG 2.16), as uid 10008 on a read-only root:
#  1. render the configuration: the mounted lmConf (no secret in it), with the short session limits
#     of a test deployment when LLNG_TIMEOUT / LLNG_TIMEOUT_ACTIVITY (/ _INTERVAL) are set, into the conf volume
#     (where the audit reads the running values); the mounted ini plus the cipher key (secret) into
#     /run/llng (tmpfs: the key never lands on disk);
#  2. seed each test identity's TOTP device into its persistent session: LemonLDAP::NG keeps second
#     factors in _2fDevices of the persistent session, whose id is md5(user)
#     (Lemonldap::NG::Common::Util::getPSessionID; Apache::Session::File, JSON);
#  3. run the FastCGI server (portal + handler) and nginx; stop both when either stops.
set -euo pipefail
say() { echo "[idp] $*" >&2; }
# paths (overridable only to try the preparation outside the image: IDP_PREPARE_ONLY=1)
conf_src=${IDP_CONF_SRC:-/etc/plancheck/lmConf-1.json}
ini_src=${IDP_INI_SRC:-/etc/plancheck/lemonldap-ng.ini}
state=${IDP_STATE:-/var/lib/lemonldap-ng}
conf_dir=$state/conf
run=${IDP_RUN:-/run/llng}
secrets=${IDP_SECRETS:-/run/secrets}

[[ $# -gt 0 ]] && exec "$@"

for d in sessions sessions/lock psessions psessions/lock cache; do
    mkdir -p "$state/$d"
done

perl -MJSON -e '
    my ($src, $dst) = @ARGV;
    local $/;
    open(my $in, "<", $src) or die "$src: $!\n";
    my $conf = JSON->new->decode(<$in>);
    for (["timeout", "LLNG_TIMEOUT"], ["timeoutActivity", "LLNG_TIMEOUT_ACTIVITY"],
         ["timeoutActivityInterval", "LLNG_TIMEOUT_ACTIVITY_INTERVAL"]) {
        my ($key, $env) = @$_;
        next unless defined $ENV{$env} and length $ENV{$env};
        die "$env must be a number of seconds\n" unless $ENV{$env} =~ /^\d+$/;
        $conf->{$key} = $ENV{$env} + 0;
        print STDERR "[idp] $key = $ENV{$env} (from $env)\n";
    }
    die "$src: the cipher key belongs in a secret, not in lmConf\n" if exists $conf->{key};
    open(my $out, ">", "$dst.tmp") or die "$dst.tmp: $!\n";
    print $out JSON->new->pretty->canonical->encode($conf);
    close($out) or die "$dst.tmp: $!\n";
    rename("$dst.tmp", $dst) or die "$dst: $!\n";
' "$conf_src" "$conf_dir/lmConf-1.json"

# the ini with `key = <cipher key>` right after [all] (read from the secret file by awk, never on a
# command line)
[[ -s $secrets/idp_cipher_key ]] || { say "missing secret idp_cipher_key"; exit 1; }
awk -v kf="$secrets/idp_cipher_key" 'BEGIN { getline k < kf; gsub(/[ \t\r\n]/, "", k) }
     { print } /^\[all\]/ { print "key = " k }' "$ini_src" > "$run/lemonldap-ng.ini"
chmod 0600 "$run/lemonldap-ng.ini"
grep -q '^key = .\{32,\}' "$run/lemonldap-ng.ini" || { say "cipher key too short or no [all] section"; exit 1; }

if [[ -s $secrets/idp_totp_seeds ]]; then
    perl -MJSON -MDigest::MD5=md5_hex -e '
        my ($seeds, $dir) = @ARGV;
        open(my $in, "<", $seeds) or die "$seeds: $!\n";
        my $n = 0;
        while (my $line = <$in>) {
            next if $line =~ /^\s*(#|$)/;
            my ($user, $secret) = split " ", $line;
            die "$seeds: expected \"user BASE32\" per line\n" unless $user and $secret and $secret =~ /^[A-Z2-7]{16,}=*$/;
            my $id = md5_hex($user);
            my $now = time;
            my $data = { _session_id => $id, _session_kind => "Persistent", _session_uid => $user, _utime => $now,
                         _2fDevices => to_json([{ type => "TOTP", name => "deploy-time seed", _secret => $secret,
                                                  epoch => $now }]) };
            open(my $out, ">", "$dir/$id.tmp") or die "$dir/$id.tmp: $!\n";
            print $out to_json($data);
            close($out) or die "$dir/$id.tmp: $!\n";
            rename("$dir/$id.tmp", "$dir/$id") or die "$dir/$id: $!\n";
            $n++;
        }
        print STDERR "[idp] seeded $n TOTP device(s)\n";
    ' "$secrets/idp_totp_seeds" "$state/psessions"
fi
[[ ${IDP_PREPARE_ONLY:-0} == 1 ]] && exit 0

sock=$run/llng-fastcgi.sock
rm -f "$sock"
# its log (stderr) goes through the shipper when a collector is configured: authentication events
# to the collector's audit class (5.2 보안 감사 로그), every line still to docker logs
if [[ -n ${PLANCHECK_LOG_COLLECTOR:-} ]]; then
    /usr/sbin/llng-fastcgi-server --foreground --socket "$sock" --pid "$run/llng-fastcgi.pid" \
        --proc "${LLNG_PROCESSES:-4}" 2> >(exec /usr/local/bin/idp-logship "$PLANCHECK_LOG_COLLECTOR") &
else
    /usr/sbin/llng-fastcgi-server --foreground --socket "$sock" --pid "$run/llng-fastcgi.pid" \
        --proc "${LLNG_PROCESSES:-4}" &
fi
fcgi=$!
for _ in $(seq 1 100); do
    [[ -S $sock ]] && break
    kill -0 "$fcgi" 2>/dev/null || { say "llng-fastcgi-server exited"; wait "$fcgi"; exit 1; }
    sleep 0.2
done
[[ -S $sock ]] || { say "llng-fastcgi-server did not open $sock"; exit 1; }
nginx -e stderr -c /etc/plancheck/nginx.conf -g 'daemon off;' &
web=$!
trap 'kill -TERM "$fcgi" "$web" 2>/dev/null || true' TERM INT
set +e
wait -n "$fcgi" "$web"
rc=$?
say "a process exited ($rc): stopping"
kill -TERM "$fcgi" "$web" 2>/dev/null
wait
exit "$rc"
