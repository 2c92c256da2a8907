"""Units of the plan: sizes to bytes, durations to days, link rates to Mbit/s.

One small, heavily tested module (tests/unit/test_units.py, with hypothesis round trips) instead of
a dependency: the plan mixes conventions, and the rules below are the ones MariaDB, Redis and Docker
share for memory (binary multiples), which is what every size in the plan configures.
"""
from __future__ import annotations

import re

_SIZE_UNITS = {
    "": 1, "B": 1,
    "K": 1024, "KB": 1024, "KIB": 1024,
    "M": 1024**2, "MB": 1024**2, "MIB": 1024**2,
    "G": 1024**3, "GB": 1024**3, "GIB": 1024**3,
    "T": 1024**4, "TB": 1024**4, "TIB": 1024**4,
    "P": 1024**5, "PB": 1024**5, "PIB": 1024**5,
}
_DURATION_DAYS = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "y": 365}
_RATE_MBPS = {"kbps": 1e-3, "mbps": 1, "gbps": 1000, "tbps": 1_000_000}

_NUM_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")

# Upper bounds: a value past these is a typo or an attack (a 400-digit size), never a setting.
MAX_SIZE = 2**63 - 1  # bytes: the 64-bit limit MariaDB, Redis and Docker share
MAX_DAYS = 10_000_000
MAX_MBPS = 10**9


def _show(value: object) -> str:
    """The value as the message shows it: repr, at most 40 characters (never a whole blob)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class UnitError(ValueError):
    """A value that does not parse; the message names the value and the accepted units."""


def parse_size(value: int | str) -> int:
    """'48GB' -> 51539607552. Integers are bytes already. Binary multiples (GB == GiB)."""
    if isinstance(value, bool):
        raise UnitError(f"invalid size {_show(value)}: expected a number with a unit such as 48GB")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"invalid size {_show(value)}: must not be negative")
        if value > MAX_SIZE:
            raise UnitError(f"invalid size {_show(value)}: larger than {MAX_SIZE} bytes")
        return value
    if not isinstance(value, str):
        raise UnitError(f"invalid size {_show(value)}: expected a number with a unit such as 48GB")
    m = _NUM_UNIT.match(value)
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise UnitError(f"invalid size {_show(value)}: expected a number with a unit in B, KB, MB, GB, TB, PB")
    n = float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]
    if not n <= MAX_SIZE:  # also inf: float() of a 400-digit number
        raise UnitError(f"invalid size {_show(value)}: larger than {MAX_SIZE} bytes")
    return int(round(n))


def format_size(n: int) -> str:
    """Bytes to a short, exact binary form: 51539607552 -> '48GB', 149248MB -> '145.75GB',
    1025KB stays '1025KB' (up to three decimals, used only where they are exact)."""
    for unit in ("PB", "TB", "GB", "MB", "KB"):
        mult = _SIZE_UNITS[unit]
        if n >= mult and (n * 1000) % mult == 0:
            q = n / mult
            return f"{int(q)}{unit}" if n % mult == 0 else f"{q:.3f}".rstrip("0").rstrip(".") + unit
    return f"{n}B"


def parse_duration(value: int | float | str) -> float:
    """'7d' -> 7, '1y' -> 365, '26h' -> 1.0833...: days. A bare number is days."""
    if isinstance(value, bool):
        raise UnitError(f"invalid duration {_show(value)}: expected e.g. 7d, 26h, 1y")
    if isinstance(value, (int, float)):
        if value != value or value < 0:  # NaN, negative
            raise UnitError(f"invalid duration {_show(value)}: must be a number of days, not negative")
        if value > MAX_DAYS:
            raise UnitError(f"invalid duration {_show(value)}: longer than {MAX_DAYS} days")
        return value
    if not isinstance(value, str):
        raise UnitError(f"invalid duration {_show(value)}: expected e.g. 7d, 26h, 1y")
    m = _NUM_UNIT.match(value)
    unit = m.group(2).lower() if m else None
    if not m or unit not in _DURATION_DAYS and unit != "":
        raise UnitError(f"invalid duration {_show(value)}: expected a number with a unit in s, m, h, d, w, y")
    days = float(m.group(1)) * _DURATION_DAYS.get(unit or "d", 1)
    if not days <= MAX_DAYS:
        raise UnitError(f"invalid duration {_show(value)}: longer than {MAX_DAYS} days")
    return int(days) if days == int(days) else days


def format_duration(days: float) -> str:
    if days and days % 365 == 0:
        return f"{int(days // 365)}y"
    if days == int(days):
        return f"{int(days)}d"
    return f"{round(days * 24, 3):g}h"


def parse_rate_mbps(value: int | str) -> int:
    """'10Gbps' -> 10000 (Mbit/s, as ethtool and /sys/class/net/*/speed report)."""
    if isinstance(value, bool):
        raise UnitError(f"invalid link rate {_show(value)}: expected e.g. 10Gbps")
    if isinstance(value, int):
        if not 0 <= value <= MAX_MBPS:
            raise UnitError(f"invalid link rate {_show(value)}: expected 0 to {MAX_MBPS} Mbit/s")
        return value
    m = _NUM_UNIT.match(str(value))
    if not m or m.group(2).lower() not in _RATE_MBPS:
        raise UnitError(f"invalid link rate {_show(value)}: expected a number with a unit in Kbps, Mbps, Gbps, Tbps")
    n = float(m.group(1)) * _RATE_MBPS[m.group(2).lower()]
    if not n <= MAX_MBPS:
        raise UnitError(f"invalid link rate {_show(value)}: faster than {MAX_MBPS} Mbit/s")
    return int(round(n))


def looks_like_quantity(value: object) -> bool:
    """True for '48GB', '48QB', '10 x': digits followed by letters (a number with a unit)."""
    return isinstance(value, str) and bool(re.match(r"^\s*\d+(?:\.\d+)?\s*[A-Za-z]+\s*$", value))


def normalize_setting(value: object) -> object:
    """One comparable form for server settings read from profiles, config files and live servers:
    booleans and ON/OFF/yes/no/1/0 words to 'ON'/'OFF', sizes to bytes, integers to int,
    other text stripped and lower-cased (MariaDB and Redis report enum values in either case)."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, int):
        return value
    if value is None:
        return None
    text = str(value).strip().strip('"').strip("'")
    low = text.lower()
    if low in ("on", "yes", "true"):
        return "ON"
    if low in ("off", "no", "false"):
        return "OFF"
    if text.startswith("/"):
        return text.rstrip("/") or "/"  # paths: MariaDB reports directories with a trailing slash
    if re.fullmatch(r"-?\d+", text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (4300): garbage, kept as text
            return low
    if looks_like_quantity(text):
        try:
            return parse_size(text)
        except UnitError:
            return low
    return low


def same_setting(found: object, expected: object) -> bool:
    """Settings equal after normalization; a boolean expectation also accepts 1/0 (MariaDB and
    Redis report booleans either way depending on the source)."""
    f, e = normalize_setting(found), normalize_setting(expected)
    if e in ("ON", "OFF") and f in (0, 1):
        f = "ON" if f == 1 else "OFF"
    return f == e
