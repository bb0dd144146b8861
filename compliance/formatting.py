"""Wording shared by the PDF report and the console, so both say the same thing.

Every time a reader sees carries its time zone (``moment_text`` for the service's own times,
``wall_text`` for a producer's RFC 3339 stamp), and a session's duration has one meaning,
measured on one clock (``session_duration``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone


def duration_text(seconds: float) -> str:
    """A duration for people: ``240 ms``, ``4.3 s``, ``2 min 5 s``, ``1 h 03 min 20 s``."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {seconds:02d} s" if hours else f"{minutes} min {seconds} s"


def moment_text(value: datetime | None, *, empty: str = "—") -> str:
    """A time of the service's clock in the console's time zone, named:
    ``2026-03-01 14:02:07 UTC``."""
    if value is None:
        return empty
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    zone = local.tzname() or timezone.get_current_timezone_name()
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}"


_WALL = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)


def wall_text(stamp: Any, *, empty: str = "—") -> str:
    """A producer's RFC 3339 stamp as written, to the millisecond, with its zone named:
    ``2026-03-01 14:02:07.123 UTC`` (``UTC+02:00`` for an offset). The producer's clock is
    not converted: it is evidence as recorded. A stamp that is not RFC 3339 is shown as
    stored, saying that its zone is unknown."""
    if stamp is None or stamp == "":
        return empty
    text = str(stamp)
    found = _WALL.match(text)
    if found is None:
        return f"{text} (time zone not stated)"
    day, clock, fraction, zone = found.groups()
    if fraction:
        clock += "." + fraction[:3].ljust(3, "0")
    zone = "UTC" if zone in ("Z", "z", "+00:00") else f"UTC{zone}"
    return f"{day} {clock} {zone}"


#: The one clock a session's duration is measured on, as its labels name it.
DURATION_CLOCK = "service clock"


def session_duration(session: Any) -> timedelta | None:
    """How long a session lasted, on the service's clock: from the moment the service
    started the session to the last event it received (the seal, which the service adds
    itself, not counted). None while no event has arrived.

    The one definition of a session's duration: the session list, the session page and the
    PDF report all show this value (a producer's own clock may drift or lie, and a
    ``SESSION_END``'s ``duration_ms`` is the agent's claim, shown apart as such)."""
    last = getattr(session, "last_event_at", None)
    if last is None:
        return None
    return max(timedelta(0), last - session.created_at)


def session_duration_text(session: Any) -> str:
    delta = session_duration(session)
    return "—" if delta is None else duration_text(delta.total_seconds())
