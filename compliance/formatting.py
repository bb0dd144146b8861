"""Wording shared by the PDF report and the console, so both say the same thing."""

from __future__ import annotations


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
