"""Sizes, durations and link rates: examples from the plan, round trips, and garbage."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plancheck.units import (UnitError, format_duration, format_size, looks_like_quantity, normalize_setting,
                             parse_duration, parse_rate_mbps, parse_size, same_setting)


@pytest.mark.parametrize("text,expected", [
    ("48GB", 48 * 1024**3), ("1GB", 1024**3), ("16gb", 16 * 1024**3), ("512MB", 512 * 1024**2),
    ("4TB", 4 * 1024**4), ("64g", 64 * 1024**3), ("1.5GB", int(1.5 * 1024**3)), ("100", 100), ("0B", 0),
    ("  2 GiB ", 2 * 1024**3), (1234, 1234),
])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["48QB", "GB", "", "-1GB", "1..2GB", "ten GB", True, None, [], -5, "1e3GB"])
def test_parse_size_garbage(bad: object) -> None:
    with pytest.raises(UnitError, match="invalid size"):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text,days", [("7d", 7), ("1y", 365), ("5y", 1825), ("30d", 30), ("26h", 26 / 24),
                                       ("2w", 14), (3, 3), ("12", 12)])
def test_parse_duration(text: str, days: float) -> None:
    assert parse_duration(text) == pytest.approx(days)


@pytest.mark.parametrize("bad", ["7x", "d", "", "-1d", True, None, "1 year"])
def test_parse_duration_garbage(bad: object) -> None:
    with pytest.raises(UnitError, match="invalid duration"):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text,mbps", [("10Gbps", 10000), ("1Gbps", 1000), ("100Mbps", 100), (25000, 25000)])
def test_parse_rate(text: str, mbps: int) -> None:
    assert parse_rate_mbps(text) == mbps


def test_parse_rate_garbage() -> None:
    with pytest.raises(UnitError, match="invalid link rate"):
        parse_rate_mbps("10GB")


@given(st.integers(min_value=0, max_value=2**60))
def test_size_round_trip(n: int) -> None:
    # exact when n is a whole number of some unit; otherwise within the three decimals shown
    text = format_size(n)
    unit = 1024 ** ["B", "KB", "MB", "GB", "TB", "PB"].index(text.lstrip("0123456789."))
    assert abs(parse_size(text) - n) <= 0.0005 * unit + 1


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from(["KB", "MB", "GB", "TB"]))
def test_whole_unit_round_trip(n: int, unit: str) -> None:
    size = parse_size(f"{n}{unit}")
    assert parse_size(format_size(size)) == size


@given(st.integers(min_value=0, max_value=100_000))
def test_duration_round_trip(days: int) -> None:
    assert parse_duration(format_duration(days)) == days


@given(st.text(max_size=20))
def test_garbage_never_crashes(text: str) -> None:
    for fn in (parse_size, parse_duration, parse_rate_mbps):
        try:
            fn(text)
        except UnitError:
            pass


def test_quantity_detection() -> None:
    assert looks_like_quantity("48QB") and looks_like_quantity("1GB")
    assert not looks_like_quantity("allkeys-lru") and not looks_like_quantity("TLSv1.3")


@pytest.mark.parametrize("found,expected", [
    ("51539607552", "48GB"), ("ON", "on"), ("1", "ON"), ("0", "OFF"), ("yes", "ON"), ("16gb", "16GB"),
    ("ALLKEYS-LRU", "allkeys-lru"), ("/var/lib/mysql-files/", "/var/lib/mysql-files"), ("900 1 300 10", "900 1 300 10"),
])
def test_same_setting(found: str, expected: str) -> None:
    assert same_setting(found, expected)


@pytest.mark.parametrize("found,expected", [("10", "1000"), ("OFF", "ON"), ("2", "ON"), ("noeviction", "allkeys-lru")])
def test_different_setting(found: str, expected: str) -> None:
    assert not same_setting(found, expected)


def test_normalize_keeps_text() -> None:
    assert normalize_setting("FORCE") == "force" and normalize_setting(None) is None
