"""Config-file parsers: MariaDB option files, redis.conf, nginx (crossplane); round trips with
hypothesis, and garbage gives a clear error, never a crash."""
from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plancheck.facts.base import FactError
from plancheck.facts.nginx import parse_site
from plancheck.facts.optionfile import ConfigSyntaxError, parse_mariadb_options, parse_redis_conf
from plancheck.facts.redis_acl import may_run, user_enabled

MY_CNF = """
# comment
[client]
port = 3307
[mysqld]
innodb-buffer-pool-size = 48G
max_connections=1000
skip-name-resolve
skip_symbolic_links
loose-server-audit-logging = ON
local_infile = 0
plugin_load_add = file_key_management
plugin_load_add = server_audit
[mariadb]
max_connections = 999
"""


def test_mariadb_options() -> None:
    o = parse_mariadb_options(MY_CNF)
    assert o["innodb_buffer_pool_size"] == "48G" and o["max_connections"] == "999"  # later group wins
    assert o["skip_name_resolve"] == "ON" and o["have_symlink"] == "DISABLED"
    assert o["server_audit_logging"] == "ON" and "port" not in o
    assert o["plugin_load_add"] == "file_key_management;server_audit"


def test_mariadb_include(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "99-local.cnf").write_text("[mysqld]\ninnodb_buffer_pool_size=1G\n")
    text = "[mysqld]\ninnodb_buffer_pool_size=48G\n!includedir conf.d\n"
    assert parse_mariadb_options(text, base_dir=tmp_path)["innodb_buffer_pool_size"] == "1G"


@pytest.mark.parametrize("bad", ["max_connections=1", "[mysqld\nx=1", "[mysqld]\n!bogus x", "[mysqld]\nfoo bar = 1"])
def test_mariadb_garbage(bad: str) -> None:
    with pytest.raises(ConfigSyntaxError, match=r"<text>:\d+: "):
        parse_mariadb_options(bad)


_names = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=20).filter(
    lambda s: not s.startswith(("skip_", "loose_", "disable_", "enable_")) and s not in ("symbolic_links", "plugin_load_add"))
_values = st.text(alphabet=string.ascii_letters + string.digits + "/._-", min_size=1, max_size=20)


@given(st.dictionaries(_names, _values, max_size=15))
def test_mariadb_round_trip(options: dict[str, str]) -> None:
    text = "[mysqld]\n" + "\n".join(f"{k} = {v}" for k, v in options.items())
    assert parse_mariadb_options(text) == options


@given(st.text(max_size=200))
def test_mariadb_garbage_never_crashes(text: str) -> None:
    try:
        parse_mariadb_options(text)
    except ConfigSyntaxError:
        pass


REDIS = """
port 0
tls-port 6379
save 900 1
save 300 10
save 60 10000
maxmemory 16gb
maxmemory-policy allkeys-lru
tls-protocols "TLSv1.3"
rename-command FLUSHALL ""
user default off
user app on >secret ~* +@all -@dangerous
"""


def test_redis_conf() -> None:
    conf, users, renamed = parse_redis_conf(REDIS)
    assert conf["save"] == "900 1 300 10 60 10000" and conf["tls-protocols"] == "TLSv1.3"
    assert conf["maxmemory"] == "16gb" and renamed == {"flushall": ""}
    assert users == ["default off", "app on >secret ~* +@all -@dangerous"]
    assert parse_redis_conf('save 900 1\nsave ""\n')[0]["save"] == ""


@pytest.mark.parametrize("bad", ['tls-protocols "TLSv1.3', "maxmemory", "rename-command a", "bad!key x"])
def test_redis_garbage(bad: str) -> None:
    with pytest.raises(ConfigSyntaxError, match=r"<text>:1: "):
        parse_redis_conf(bad)


_rkeys = st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=20).filter(
    lambda s: s.strip("-") and s not in ("save", "user", "rename-command"))


@given(st.dictionaries(_rkeys, _values, max_size=15))
def test_redis_round_trip(conf: dict[str, str]) -> None:
    assert parse_redis_conf("\n".join(f"{k} {v}" for k, v in conf.items()))[0] == conf


@given(st.text(max_size=200))
def test_redis_garbage_never_crashes(text: str) -> None:
    try:
        parse_redis_conf(text)
    except ConfigSyntaxError:
        pass


@pytest.mark.parametrize("rules,cmd,sub,allowed", [
    (["on", "+@all"], "config", "set", True),
    (["on", "+@all", "-@dangerous"], "config", "set", False),
    (["on", "-@all", "+config|get", "+info"], "config", "set", False),
    (["on", "-@all", "+config"], "config", "set", True),
    (["on", "+@all", "-flushall"], "flushall", None, False),
    (["on", "+@all", "-@admin"], "keys", None, True),
])
def test_acl_rules(rules: list[str], cmd: str, sub: str | None, allowed: bool) -> None:
    assert may_run(rules, cmd, sub) is allowed


def test_acl_enabled() -> None:
    assert user_enabled(["on", "nopass"]) and not user_enabled(["off"]) and not user_enabled([])


NGINX = """
http {
  server_tokens off;
  ssl_protocols TLSv1.2 TLSv1.3;
  proxy_ssl_certificate /c.crt;
  proxy_ssl_verify on;
  proxy_ssl_protocols TLSv1.3;
  server { listen 80; return 301 https://$host$request_uri; }
  server {
    listen 443 ssl;
    ssl_protocols TLSv1.3;
    ssl_verify_client on;
    add_header Strict-Transport-Security "max-age=63072000" always;
    location / { proxy_pass https://api-server:8443; }
  }
}
"""


def test_nginx_site() -> None:
    s = parse_site(NGINX, "gateway.conf")
    assert s.ssl_protocols == ["TLSv1.3"] and s.verify_client == "on" and s.server_tokens == "off"
    assert [(x.port, x.ssl, x.redirects_to_https) for x in s.listeners] == [(80, False, True), (443, True, False)]
    assert s.headers["Strict-Transport-Security"] == "max-age=63072000" and s.proxied_upstreams == ["https://api-server:8443"]


@pytest.mark.parametrize("bad", ["http {", "http { server { listen 443 ssl; }", "}", "http { listen \"443 }"])
def test_nginx_garbage(bad: str) -> None:
    with pytest.raises(FactError, match=r"^bad\.conf:\d+: "):
        parse_site(bad, "bad.conf")


@given(st.text(max_size=200))
def test_nginx_garbage_never_crashes(text: str) -> None:
    try:
        parse_site(text, "x.conf")
    except FactError:
        pass
