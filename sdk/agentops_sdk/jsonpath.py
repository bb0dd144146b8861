"""Locations of values inside a JSON document, written one way everywhere: the
``details.path`` of a ``NON_CANONICAL_VALUE`` error, the ``path`` of a PII finding and the
console that masks a payload by the paths of its stored findings.

A path starts with ``$`` (the whole document); each step down is ``.name`` for an object key
that is a Python identifier, ``[3]`` for an array index, and ``['any key']`` for every other
key, with ``\\`` and ``'`` escaped by a backslash and every other character as it is. That is
the form PII findings have always been stored in, so stored paths keep reading back.
"""

from __future__ import annotations

ROOT = "$"


def child_path(path: str, key: str | int) -> str:
    """The location of ``path``'s member ``key`` (a string) or element ``key`` (an int)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def path_steps(path: str) -> list[str | int]:
    """The keys and indexes ``child_path`` wrote into ``path``; ValueError if it is not a path
    ``child_path`` writes."""
    if not path.startswith(ROOT):
        raise ValueError(f"not a JSON path: {path!r}")
    steps: list[str | int] = []
    position, end = len(ROOT), len(path)
    while position < end:
        mark = path[position]
        if mark == ".":
            stop = position + 1
            while stop < end and path[stop] not in ".[":
                stop += 1
            name = path[position + 1 : stop]
            if not name.isidentifier():
                raise ValueError(f"not a JSON path: {path!r}")
            steps.append(name)
            position = stop
        elif path.startswith("['", position):
            position, key = _quoted(path, position + 2)
            steps.append(key)
        elif mark == "[":
            stop = path.find("]", position)
            digits = path[position + 1 : stop] if stop > 0 else ""
            if not (digits.isascii() and digits.isdigit()) or (
                len(digits) > 1 and digits[0] == "0"
            ):
                raise ValueError(f"not a JSON path: {path!r}")
            steps.append(int(digits))
            position = stop + 1
        else:
            raise ValueError(f"not a JSON path: {path!r}")
    return steps


def _quoted(path: str, position: int) -> tuple[int, str]:
    """(where the step after a quoted key starts, the key) for a key that starts at
    ``position``, just past its opening quote."""
    chars: list[str] = []
    end = len(path)
    while position < end:
        char = path[position]
        if char == "\\" and position + 1 < end and path[position + 1] in "\\'":
            chars.append(path[position + 1])
            position += 2
        elif char == "'":
            if path.startswith("']", position):
                return position + 2, "".join(chars)
            break
        elif char == "\\":
            break
        else:
            chars.append(char)
            position += 1
    raise ValueError(f"not a JSON path: {path!r}")
