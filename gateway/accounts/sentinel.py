"""`redis+sentinel://[:password@]host:port[,host:port…]/SERVICE[/DB]`: the master Redis Sentinel names, followed.

redis-py's Sentinel asks the sentinels for the master's address on every new connection, so after a failover
the first request whose connection breaks reconnects to the new master; until one answers, the shared state's
usual outage handling serves from the local view. `rediss+sentinel://` speaks TLS to sentinels and master.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import redis

SCHEMES = ("redis+sentinel://", "rediss+sentinel://")


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        """The URL's parts; a ValueError saying what is wrong with it."""
        parts = urlsplit(url)
        hosts = parts.netloc.rpartition("@")[2]
        sentinels = []
        for item in hosts.split(","):
            host, colon, port = item.strip().rpartition(":")
            if not colon or not host or not port.isdigit():
                raise ValueError(f"sentinel {item!r} is not host:port")
            sentinels.append((host.strip("[]"), int(port)))
        path = [segment for segment in parts.path.split("/") if segment]
        if not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
            raise ValueError("the path must be /SERVICE or /SERVICE/DB")
        password = unquote(parts.password) if parts.password else None
        db = int(path[1]) if len(path) == 2 else 0
        return cls(tuple(sentinels), path[0], db, password, parts.scheme == "rediss+sentinel")


def master(url: str, timeouts: dict[str, float]) -> redis.Redis:
    """A client of the service's current master (the password is the master's, and the sentinels' when they
    ask for one)."""
    from redis.sentinel import Sentinel  # not at import: settings parse URLs in gunicorn's master, before gevent

    parsed = SentinelUrl.parse(url)
    tls = {"ssl": True} if parsed.tls else {}
    asks = _sentinels_ask_for_a_password(parsed, {**timeouts, **tls})
    sentinel_kwargs = {**timeouts, **tls, **({"password": parsed.password} if asks else {})}
    sentinels = Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_kwargs, **timeouts, **tls)
    return sentinels.master_for(parsed.service, db=parsed.db, password=parsed.password, **timeouts, **tls)


def _sentinels_ask_for_a_password(parsed: SentinelUrl, options: dict) -> bool:
    """Whether the sentinels refuse a client without the password (a sentinel refuses one it did not ask for)."""
    import redis

    if parsed.password is None:
        return False
    for host, port in parsed.sentinels:
        probe = redis.Redis(host=host, port=port, **options)
        try:
            probe.ping()
            return False
        except redis.AuthenticationError:
            return True
        except redis.RedisError:
            continue  # this sentinel is down: ask the next
        finally:
            probe.close()
    return True
