#!/usr/bin/perl
# The identity provider's log shipper: copies LemonLDAP::NG's stderr to the container's stderr
# (docker logs) and sends its authentication events (the user logger's notice/warn/error lines:
# logins, second factors, refusals, logouts) to the log collector as syslog over TLS 1.3 with the
# provider's own certificate (RFC 5425 octet counting, facility authpriv: the audit class, filed
# under the sender's name). A collector that is down never blocks the provider: events are
# dropped (and said once per outage on stderr) until it answers again.
#   idp-logship HOST:PORT   (stdin: the FastCGI server's stderr)
use strict;
use warnings;
use IO::Socket::SSL;
use POSIX qw(strftime);

my ($target) = @ARGV or die "usage: $0 HOST:PORT\n";
my ($host, $port) = $target =~ /^(.+):(\d+)$/ or die "$0: expected HOST:PORT, got $target\n";
my $tls = $ENV{IDP_TLS_DIR} || '/etc/plancheck/tls';
my ($sock, $retry_at, $said) = (undef, 0, 0);
$| = 1;

sub connect_collector {
    return $sock if $sock;
    return undef if time < $retry_at;
    $sock = IO::Socket::SSL->new(
        PeerHost => $host, PeerPort => $port, Timeout => 3,
        SSL_version => 'TLSv1_3', SSL_ca_file => "$tls/ca.crt",
        SSL_cert_file => "$tls/tls.crt", SSL_key_file => "$tls/tls.key",
        SSL_verify_mode => SSL_VERIFY_PEER, SSL_verifycn_name => $host, SSL_verifycn_scheme => 'default',
    );
    if (!$sock) {
        $retry_at = time + 5;
        print STDERR "[idp-logship] collector $target not reachable: $SSL_ERROR\n" unless $said++;
        return undef;
    }
    $said = 0;
    return $sock;
}

while (my $line = <STDIN>) {
    print STDERR $line;
    # [date] [LLNG:pid] [level] message: the user logger's events (debug/info lines stay local)
    next unless $line =~ /\[LLNG:(\d+)\] \[(notice|warn|warning|error|crit)\] (.*)$/;
    my ($pid, $level, $msg) = ($1, $2, $3);
    my $sev = { notice => 5, warn => 4, warning => 4, error => 3, crit => 2 }->{$level};
    my $ts = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime);
    my $frame = sprintf('<%d>1 %s idp llng %d - - %s', 10 * 8 + $sev, $ts, $pid, $msg);
    my $s = connect_collector() or next;
    if (!print {$s} length($frame) . " $frame") {
        close $s;
        ($sock, $retry_at) = (undef, time + 5);
    }
}
