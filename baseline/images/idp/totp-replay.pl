#!/usr/bin/perl
# Build-time patch of LemonLDAP::NG 2.16's TOTP second factor: refuse a code that was already
# accepted for the same user while it could still be valid (ASVS 2.8.4, "a time-based OTP can be
# used only once within its validity period"; LemonLDAP::NG 2.17 remembers used codes itself).
# Used codes are kept, hashed, per user in the provider's cache tmpfs, shared by the FastCGI
# workers under a file lock; a cache that cannot be opened refuses the code (fail closed).
# AC-007 proves it on the running provider. Run once by the Dockerfile; fails the build when the
# package no longer has the lines it expects.
use strict;
use warnings;

my $file = shift or die "usage: $0 .../Lemonldap/NG/Portal/2F/TOTP.pm\n";
open my $in, '<', $file or die "$file: $!\n";
my $src = do { local $/; <$in> };
close $in;

my $anchor = "    if (\$r) {\n        \$self->userLogger->info( \$self->prefix . '2f: succeed' );\n";
die "$file: success branch of verify() not found (package changed?)\n" unless index( $src, $anchor ) >= 0;
my $guard = <<'PERL';
    if ( $r and _plancheck_replayed( $self, $session->{ $self->conf->{whatToTrace} }, $code ) ) {
        $self->userLogger->notice( $self->prefix
              . '2f: replayed code refused for '
              . $session->{ $self->conf->{whatToTrace} } );
        return PE_BADOTP;
    }
PERL
$src =~ s/\Q$anchor\E/$guard$anchor/;

my $helper = <<'PERL';

# plancheck: one use per TOTP code and user within the code's validity window
use Fcntl qw(:flock O_RDWR O_CREAT);
use Digest::SHA qw(sha256_hex);

sub _plancheck_replayed {
    my ( $self, $user, $code ) = @_;
    my $range    = $self->conf->{totp2fRange}    || 1;
    my $interval = $self->conf->{totp2fInterval} || 30;
    my $window   = ( 2 * $range + 1 ) * $interval;
    my $dir      = '/var/lib/lemonldap-ng/cache/totp-used';
    mkdir $dir, 0700 unless -d $dir;
    my $path = "$dir/" . sha256_hex( defined $user ? $user : '' );
    sysopen( my $fh, $path, O_RDWR | O_CREAT, 0600 ) or return 1;
    flock( $fh, LOCK_EX ) or return 1;
    my ( $now, $mine, $seen, @keep ) = ( time, sha256_hex($code), 0 );
    while ( my $line = <$fh> ) {
        chomp $line;
        my ( $t, $c ) = split / /, $line, 2;
        next unless defined $c and $t =~ /^\d+$/ and $now - $t < $window;
        $seen = 1 if $c eq $mine;
        push @keep, $line;
    }
    push @keep, "$now $mine" unless $seen;
    seek( $fh, 0, 0 ) or return 1;
    truncate( $fh, 0 ) or return 1;
    print {$fh} map { "$_\n" } @keep;
    close $fh or return 1;
    return $seen;
}
PERL
$src =~ s/\n1;\s*\z/\n$helper\n1;\n/ or die "$file: no final '1;' (package changed?)\n";

open my $out, '>', $file or die "$file: $!\n";
print {$out} $src;
close $out or die "$file: $!\n";
print STDERR "patched $file: TOTP codes are single-use\n";
