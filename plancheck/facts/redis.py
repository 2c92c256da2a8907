"""Redis facts: redis.conf (static) or the running server over TLS (live: CONFIG GET, falling back
to INFO and to the config file read from the container through the docker SDK when CONFIG is
renamed or forbidden to the audit user)."""
from __future__ import annotations

from typing import Any, Union

from plancheck.facts.containers import read_container_file
from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.facts.endpoints import endpoint, resolve_host, secret, tls_files
from plancheck.facts.optionfile import ConfigSyntaxError, parse_redis_conf
from plancheck.facts.redis_acl import may_run, parse_user, permission_rules, user_enabled

LIVE_ONLY = "no static source: only the running server knows"


SECRET_DIRECTIVES = ("requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass")


def redact(config: dict[str, str]) -> dict[str, str]:
    """Secrets never leave the fact source: not into checks, reports or --dump-facts."""
    return {k: ("<redacted>" if k in SECRET_DIRECTIVES and v else v) for k, v in config.items()}


class RedisFacts(Facts):
    version: Union[str, Unavailable]
    version_source: str = ""  # static: the image whose tag names the version; live: INFO server
    config: dict[str, str]
    config_source: str  # CONFIG GET / redis.conf in the container / redis.conf (desired state)
    persistence: Union[dict[str, str], Unavailable]  # INFO persistence
    # command -> users (enabled) allowed to run it; "*" when renamed to ""/disabled for everyone
    command_access: Union[dict[str, list[str]], Unavailable]
    unauthenticated_access: Union[bool, Unavailable]  # a client with no credentials could run PING
    plaintext_port_open: Union[bool, Unavailable]
    # user -> its ACL permission rules, secrets dropped (redis_acl.permission_rules); 4.2 AC-015
    acl_users: Union[dict[str, list[str]], Unavailable] = Unavailable(reason=LIVE_ONLY)
    # static: redis.conf lines naming a directive redis-server does not know, one line each
    # ("redis.conf:12: unknown directive 'maxmemroy'"); see optionfile.parse_redis_conf
    unknown_directives: Union[list[str], Unavailable] = Unavailable(
        reason="redis.conf is read in static mode only (a running server refused unknown directives)", kind="absent")


def _command_access(users: list[str], renamed: dict[str, str], commands: list[str]) -> dict[str, list[str]]:
    out = {}
    for cmd in commands:
        if renamed.get(cmd) == "":
            out[cmd] = []
            continue
        allowed = []
        for line in users:
            name, rules = parse_user(line)
            if user_enabled(rules) and may_run(rules, cmd, "set" if cmd == "config" else None):
                allowed.append(name)
        out[cmd] = sorted(allowed)
    return out


def _conf_from_text(text: str, origin: str, unknown: list[str] | None = None,
                    ) -> tuple[dict[str, str], list[str], dict[str, str]]:
    try:
        return parse_redis_conf(text, origin, unknown)
    except ConfigSyntaxError as e:
        raise FactError(str(e)) from None


@register
class RedisSource(FactSource):
    name = "redis"
    model = RedisFacts

    def static(self, ctx: Context) -> RedisFacts:
        files = ctx.profile.target.config_files.get("redis")
        if not files:
            raise NoSource("redis: the profile's target names no redis.conf")
        conf: dict[str, str] = {}
        users: list[str] = []
        renamed: dict[str, str] = {}
        unknown: list[str] = []
        for f in files:  # later files win, as with `include` at the end of redis.conf
            c, u, r = _conf_from_text(ctx.read_text(f), str(ctx.path(f)), unknown)
            conf.update(c)
            users += u
            renamed.update(r)
        u = Unavailable(reason=LIVE_ONLY)
        from plancheck.facts.containers import image_version

        version, version_source = image_version(ctx, ctx.profile.redis.container)
        acl_files = ctx.profile.target.config_files.get("redis-acl", [])
        for f in acl_files:
            users += [line.split(None, 1)[1] for line in ctx.read_text(f).splitlines()
                      if line.startswith("user ")]
        conf = redact(conf)
        if "aclfile" in conf and not acl_files:
            why = Unavailable(reason=f"ACL users live in {conf['aclfile']}, written at deploy time; "
                                     "only the running server shows them")
            return RedisFacts(source=", ".join(files), version=version, version_source=version_source, config=conf,
                              config_source="redis.conf",
                              persistence=u, command_access=why, unauthenticated_access=why,
                              plaintext_port_open=conf.get("port", "6379") != "0", unknown_directives=unknown)
        if not any(parse_user(u)[0] == "default" for u in users):
            # Redis's built-in default user: open unless requirepass gives it a password
            users.insert(0, "default on " + ("#configured" if "requirepass" in conf else "nopass") + " ~* &* +@all")
        default_rules = next(parse_user(u)[1] for u in users if parse_user(u)[0] == "default")
        return RedisFacts(source=", ".join(files), version=version, version_source=version_source, config=conf,
                          config_source="redis.conf",
                          persistence=u, command_access=_command_access(users, renamed,
                                                                        ctx.profile.redis.protected_commands),
                          unauthenticated_access=user_enabled(default_rules) and "nopass" in default_rules,
                          plaintext_port_open=conf.get("port", "6379") != "0", unknown_directives=unknown)

    def live(self, ctx: Context) -> RedisFacts:
        import redis
        from redis.exceptions import AuthenticationError, RedisError, ResponseError

        ep = endpoint(ctx, "redis")
        host = resolve_host(ctx, ep)
        ca, cert, key = tls_files(ctx)
        user = ep.credential.user if ep.credential else None
        where = f"redis at {host}:{ep.port}" + (f" as {user}" if user else "")
        common: dict[str, Any] = dict(host=host, port=ep.port, ssl=True, ssl_ca_certs=ca, ssl_certfile=cert,
                                      ssl_keyfile=key, ssl_check_hostname=False, socket_timeout=ctx.timeout,
                                      socket_connect_timeout=ctx.timeout, retry=None,
                                      decode_responses=True)
        client = redis.Redis(username=user, password=secret(ctx, ep), **common)
        meter.count_redis(client)  # each command: one round trip of this source
        try:
            info = client.info("server")
            persistence = {k: str(v) for k, v in client.info("persistence").items()}
        except AuthenticationError as e:
            raise FactError(f"cannot log in to {where}: {e}") from None
        except RedisError as e:
            raise FactError(f"cannot reach {where}: {type(e).__name__}: {e}".splitlines()[0]) from None
        try:
            config = redact({k: str(v) for k, v in client.config_get("*").items()})
            source = "CONFIG GET"
        except ResponseError:
            path = ep.config_path or "/etc/redis/redis.conf"
            config, _, _ = _conf_from_text(read_container_file(ctx, ctx.profile.redis.container, path), path)
            config = redact(config)
            source = f"{path} in the container (CONFIG is not available to the audit user)"
        try:
            acl_lines = [line.removeprefix("user ") for line in client.acl_list()]
        except ResponseError:
            acl_lines = []
        access: dict[str, list[str]] | Unavailable
        if not acl_lines:
            access = Unavailable(reason="ACL LIST is not permitted to the audit user")
        else:
            access = {}
            for cmd in ctx.profile.redis.protected_commands:
                # Redis's own verdict (ACL DRYRUN, Redis >= 7) where permitted, else the ACL rules
                args = {"config": ["CONFIG", "SET", "maxmemory", "1"], "debug": ["DEBUG", "SLEEP", "0"],
                        "keys": ["KEYS", "*"]}.get(cmd, [cmd.upper()])
                allowed = []
                for line in acl_lines:
                    name, rules = parse_user(line)
                    verdict = _dryrun(client, name, args)
                    if verdict is None:
                        verdict = user_enabled(rules) and may_run(rules, cmd, "set" if cmd == "config" else None)
                    if verdict and user_enabled(rules):
                        allowed.append(name)
                access[cmd] = sorted(allowed)
        # Each probe has three outcomes: accepted, refused by the protocol, or could not tell. Only a
        # refusal the server itself gave counts as refused; a timeout or a library error is "unknown".
        unauth: bool | Unavailable
        anonymous = redis.Redis(**common)
        meter.count_redis(anonymous)  # each command: one round trip of this source
        try:
            anonymous.ping()
            unauth = True
        except AuthenticationError:
            unauth = False  # NOAUTH / WRONGPASS: the server refused a client without credentials
        except ResponseError as e:
            unauth = False if any(w in str(e) for w in ("NOAUTH", "NOPERM", "WRONGPASS")) else Unavailable(
                kind="unknown", reason=f"anonymous PING to {host}:{ep.port}: unexpected reply {str(e)[:120]}")
        except RedisError as e:
            unauth = Unavailable(kind="unknown", reason=f"anonymous PING to {host}:{ep.port} got no answer: "
                                 f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
        finally:
            anonymous.close()
        plaintext: bool | Unavailable
        plain = redis.Redis(host=host, port=ep.port, socket_timeout=ctx.timeout, socket_connect_timeout=ctx.timeout,
                            retry=None)
        meter.count_redis(plain)
        try:
            plain.ping()
            plaintext = True
        except (AuthenticationError, ResponseError):
            plaintext = True  # it answered RESP in clear text (even an error): the port takes plaintext
        except redis.exceptions.TimeoutError as e:
            plaintext = Unavailable(kind="unknown", reason=f"plaintext PING to {host}:{ep.port} timed out: {e}")
        except redis.exceptions.ConnectionError:
            plaintext = False  # closed or reset by the TLS listener (or refused): no plaintext RESP
        except RedisError as e:
            plaintext = Unavailable(kind="unknown", reason=f"plaintext PING to {host}:{ep.port}: "
                                    f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
        finally:
            plain.close()
        client.close()
        acl_users: dict[str, list[str]] | Unavailable = \
            {parse_user(line)[0]: permission_rules(parse_user(line)[1]) for line in acl_lines} if acl_lines else \
            Unavailable(kind="unknown", reason="ACL LIST is not permitted to the audit user")
        return RedisFacts(source=where, version=str(info.get("redis_version", "")), acl_users=acl_users, config=config,
                          config_source=source, persistence=persistence, command_access=access,
                          unauthenticated_access=unauth, plaintext_port_open=plaintext)


def _dryrun(client: Any, user: str, args: list[str]) -> bool | None:
    """ACL DRYRUN's verdict; None when the server cannot or will not say (Redis 6.2, NOPERM)."""
    from redis.exceptions import ResponseError

    try:
        reply = client.execute_command("ACL", "DRYRUN", user, *args)
    except ResponseError as e:
        text = str(e).lower()
        if "unknown subcommand" in text or "noperm" in text or "no permissions" in text:
            return None
        return False
    return str(reply).upper() == "OK"
