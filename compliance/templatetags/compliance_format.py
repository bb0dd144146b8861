"""Template filters for the console's times: ``{{ value|moment }}`` for the service's own
times, ``{{ stamp|wall }}`` for a producer's RFC 3339 stamp; both name the time zone
(``compliance.formatting``)."""

from __future__ import annotations

from typing import Any

from django import template

from compliance.formatting import moment_text, wall_text

register = template.Library()


@register.filter
def moment(value: Any) -> str:
    return moment_text(value)


@register.filter
def wall(value: Any) -> str:
    return wall_text(value)
