# Driven by bench/idp_config_check.sh: the baseline's LemonLDAP::NG configuration, in-process.
use strict; use warnings;
use Plack::Test; use HTTP::Request::Common; use HTTP::Request;
use Lemonldap::NG::Portal::Main; use Lemonldap::NG::Handler::Server::Nginx;
use Digest::HMAC_SHA1 'hmac_sha1_hex'; use Convert::Base32 qw(decode_base32);
my $key = decode_base32($ENV{TOTP_SECRET});
sub totp { my $h = hmac_sha1_hex(pack('H*', sprintf('%016x', int($_[0] / 30))), $key);
  return sprintf('%06d', (hex(substr($h, hex(substr($h, -1)) * 2, 8)) & 0x7fffffff) % 10**6) }
my $P = Plack::Test->create(Lemonldap::NG::Portal::Main->run({}));
my $h = Lemonldap::NG::Handler::Server::Nginx->run({});
# as the idp's nginx passes it: fastcgi_param X_ORIGINAL_URI $http_x_original_uri
my $H = Plack::Test->create(sub { my $e = shift; $e->{X_ORIGINAL_URI} = $e->{HTTP_X_ORIGINAL_URI}; $h->($e) });
my $fail = 0;
sub expect { my ($what, $got, $want) = @_; my $ok = $got =~ /^$want/;
  printf "%-4s %-52s %s\n", ($ok ? 'ok' : 'FAIL'), $what, $got; $fail ||= !$ok }
sub ask { my ($vhost, $uri, $cookie) = @_;
  my $r = HTTP::Request->new(GET => 'http://idp/lmauth'); $r->header(Host => $vhost);
  $r->header('X-Original-URI' => $uri); $r->header(Cookie => $cookie) if $cookie;
  my $res = $H->request($r); return $res->code . ($res->header('Location') ? ' to the portal' : '') }
sub page { my $res = $P->request(GET 'https://203.0.113.1/', Host => '203.0.113.1', Accept => 'text/html');
  my ($t) = $res->content =~ /name="token" value="([^"]+)"/; return ($res, $t) }
sub post { my ($path, $form, $cookie) = @_;
  my $r = POST "https://203.0.113.1$path", $form, Host => '203.0.113.1', Accept => 'text/html';
  $r->header(Cookie => $cookie) if $cookie; return $P->request($r) }
sub sid { for ($_[0]->headers->header('Set-Cookie')) { return "lemonldap=$1" if /^lemonldap=([0-9a-f]{64});/ } '' }
sub flags { for ($_[0]->headers->header('Set-Cookie')) { return join ',', grep { $_[0] } map { lc } /(secure|httponly|samesite=\w+)/gi if /^lemonldap=[0-9a-f]/ } '' }
my ($res, $tok) = page();
expect('login page with token, user and password', $res->code . ($tok && $res->content =~ /name="password"/ ? ' form' : ''), '200 form');
$res = post('/', [user => 'pc-user', password => 'pc-user', token => $tok], 'lemonldap=' . ('ab' x 32));
my $user = sid($res);
expect('pc-user: password alone gives a session', $user ? 'session' : 'none', 'session');
expect('session id planted before login not kept', $user eq 'lemonldap=' . ('ab' x 32) ? 'adopted' : 'regenerated', 'regenerated');
expect('cookie flags', flags($res), 'httponly,samesite=strict,secure');
expect('pc-user GET gateway /api/v1/models', ask('203.0.113.1', '/api/v1/models', $user), '200');
expect('pc-user GET gateway /chat/rooms', ask('203.0.113.1', '/chat/rooms', $user), '200');
expect('pc-user GET gateway /api/admin/usage', ask('203.0.113.1', '/api/admin/usage', $user), '403');
expect('pc-user GET gateway /api/__plancheck_unplanned__', ask('203.0.113.1', '/api/__plancheck_unplanned__', $user), '403');
expect('pc-user GET admin-portal /', ask('admin-portal', '/', $user), '403');
expect('anonymous GET gateway /api/v1/models', ask('203.0.113.1', '/api/v1/models'), '401 to the portal');
expect('anonymous GET admin-portal /', ask('admin-portal', '/'), '401 to the portal');
($res, $tok) = page();
$res = post('/', [user => 'pc-admin', password => 'pc-admin', token => $tok]);
my ($tok2) = $res->content =~ /name="token" value="([^"]+)"/;
expect('pc-admin: password alone asks for the TOTP code', (sid($res) ? 'session' : 'no session') . ($res->content =~ /totp2fcheck/ ? ', code form' : ''), 'no session, code form');
my $code = totp(time);
$res = post('/totp2fcheck', [code => $code, token => $tok2]);
my $admin = sid($res);
expect('pc-admin with the current code', $admin ? 'session' : 'none', 'session');
expect('pc-admin GET gateway /api/admin/usage', ask('203.0.113.1', '/api/admin/usage', $admin), '200');
expect('pc-admin GET admin-portal /', ask('admin-portal', '/', $admin), '200');
($res, $tok) = page(); $res = post('/', [user => 'pc-admin', password => 'pc-admin', token => $tok]);
($tok2) = $res->content =~ /name="token" value="([^"]+)"/;
$res = post('/totp2fcheck', [code => sprintf('%06d', ($code + 500000) % 1000000), token => $tok2]);
expect('pc-admin with a wrong code', sid($res) ? 'session' : 'refused', 'refused');
($res, $tok) = page(); $res = post('/', [user => 'pc-admin', password => 'pc-admin', token => $tok]);
($tok2) = $res->content =~ /name="token" value="([^"]+)"/;
$res = post('/totp2fcheck', [code => $code, token => $tok2]);
printf "%-4s %-52s %s\n", 'info', 'pc-admin replaying the code just used', sid($res) ? 'session (2.16 has no replay protection: AC-007 fails)' : 'refused';
$res = $P->request(GET 'https://203.0.113.1/?logout=1', Host => '203.0.113.1', Cookie => $user, Accept => 'text/html');
expect('logout', $res->code, '200');
expect('pc-user cookie after logout', ask('203.0.113.1', '/api/v1/models', $user), '401 to the portal');
exit($fail ? 1 : 0);
