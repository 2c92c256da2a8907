"""What every profile model shares: the unit-parsing field types (Size, Days, Mbps, Cron, TimeZone,
Setting), Severity, and `Strict`, the base model (unknown keys are errors, instances are frozen).

Units are parsed here, so checks only ever see bytes, days, Mbit/s and validated cron expressions.
Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from croniter import croniter
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from plancheck.units import UnitError, looks_like_quantity, parse_duration, parse_rate_mbps, parse_size


def _size(v: object) -> int:
    try:
        return parse_size(v)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


def _days(v: object) -> float:
    try:
        return parse_duration(v)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


def _mbps(v: object) -> int:
    try:
        return parse_rate_mbps(v)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


def _cron(v: str) -> str:
    if not isinstance(v, str) or not croniter.is_valid(v):
        raise ValueError(f"invalid cron expression {v!r}: expected five fields such as '0 2 * * *'")
    return v


def _timezone(v: str) -> str:
    """An IANA time zone name the tz database knows (Asia/Seoul), never a path or a made-up zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {shown}: expected an IANA name such as Asia/Seoul or UTC") from None
    return v


def _setting(v: object) -> object:
    # A tunable that looks like a quantity ('48GB') must be a valid size: '48QB' is a typo, not text.
    if looks_like_quantity(v):
        _size(v)
    return v


Size = Annotated[int, BeforeValidator(_size)]
Days = Annotated[float, BeforeValidator(_days)]
Mbps = Annotated[int, BeforeValidator(_mbps)]
Cron = Annotated[str, AfterValidator(_cron)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Setting = Annotated[Union[bool, int, str], AfterValidator(_setting)]
Severity = Literal["critical", "high", "medium", "low"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
