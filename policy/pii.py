"""PII detection over event payloads; findings carry masked previews only.

Built-in kinds: ``email``, ``phone``, ``ssn``, ``card``, ``iban``, ``ipv4``, ``ipv6``; a policy
adds its own kinds as named regular expressions. Every detector aims for precision as much as
recall, because a compliance report full of false alarms is ignored. The decisions:

- **phone**: candidates are found by a cheap regex and confirmed by ``phonenumbers``'
  ``PhoneNumberMatcher`` at ``STRICT_GROUPING`` leniency in the configured default region.
  A number written with ``+`` is a phone. A formatted national number (``(415) 555-2671``) is a
  phone unless the words just before it say it is something else (order, invoice, amount...).
  A bare run of digits (``4155552671``) is a phone only when the text just before it or the
  JSON key names it one (``phone``, ``call``, ``mobile``...): bare digits are far more often
  ids, amounts and epoch timestamps.
- **ssn**: ``123-45-6789`` and ``123 45 6789`` are SSNs when ``stdnum.us.ssn`` accepts them
  (it rejects area 000/666/9xx, group 00, serial 0000 and known advertising numbers). A bare
  ``123456789`` is an SSN only with context (``SSN``, ``social security`` before it, or a key
  such as ``ssn``): nine-digit ids are everywhere.
- **card**: 13-19 digits, bare or in groups separated consistently by spaces or dashes,
  Luhn-valid and starting with a known issuer prefix. Bare runs preceded by "order", "id",
  "tracking"... are not cards.
- **iban**: upper-case IBANs, spaced in fours or compact, accepted by ``stdnum.iban``
  (country length and mod-97 check).
- **ipv4**: a dotted quad that parses as an IPv4 address *is* an IPv4 address, even when it was
  meant as a four-part version number (``version 1.2.3.4``): the text cannot tell them apart,
  and hiding addresses costs more than a false alarm. Prefixed versions (``v1.2.3.4``) and
  longer dotted runs (``1.2.3.4.5``) are not addresses.
- **ipv6**: colon-separated hex accepted by ``ipaddress.IPv6Address`` and containing a digit
  (so words such as ``dead::beef`` and clock times are not addresses).

JSON keys are not scanned (they are field names chosen by code, not data), but the key that
holds a value is used as context for bare phone and SSN numbers; integers under such keys are
scanned too, since an SSN or phone stored as a JSON number is still one.

Whole strings that are machine values (UUIDs, RFC 3339 timestamps, hex digests, decimals) are
skipped by the built-in detectors: they hold no personal data, and payloads are full of them.

When two detections overlap the more specific kind wins (card, iban, ssn, email, phone, ipv6,
ipv4, then policy patterns), so one value yields one finding.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import phonenumbers
from agentops_sdk.jsonpath import child_path
from stdnum import iban as stdnum_iban
from stdnum import luhn as stdnum_luhn
from stdnum.us import ssn as stdnum_ssn

BUILTIN_KINDS = ("card", "iban", "ssn", "email", "phone", "ipv6", "ipv4")
DEFAULT_REGION = "US"

# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One detection inside a string: where it is and how it looks masked."""

    kind: str
    start: int
    end: int
    preview: str


@dataclass(frozen=True, slots=True)
class PiiFinding:
    """One detection inside an event payload. Holds the masked preview, never the value."""

    sequence_number: int | None
    event_id: str | None
    path: str
    kind: str
    preview: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequence_number": self.sequence_number,
            "event_id": self.event_id,
            "path": self.path,
            "kind": self.kind,
            "preview": self.preview,
        }


@dataclass(frozen=True, slots=True)
class PiiScanner:
    """What to look for: built-in kinds, named policy patterns and the phone region."""

    kinds: frozenset[str]
    custom_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    region: str = DEFAULT_REGION
    _priority: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    _detectors: tuple = field(default=(), compare=False, repr=False)


# --------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------


_NON_DIGITS = re.compile(r"\D+")


def _digits(text: str) -> str:
    return _NON_DIGITS.sub("", text)


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_ssn(value: str) -> str:
    return f"***-**-{_digits(value)[-4:]}"


def _mask_card(value: str) -> str:
    digits = _digits(value)
    hidden_groups = -(-(len(digits) - 4) // 4)
    return "**** " * hidden_groups + digits[-4:]


def _mask_iban(value: str) -> str:
    compact = value.replace(" ", "")
    hidden_groups = -(-(len(compact) - 8) // 4)
    return f"{compact[:2]}** " + "**** " * hidden_groups + compact[-4:]


def _mask_phone(value: str) -> str:
    # Keep the formatting and the last digits (four for full national numbers, two for short
    # ones) so a reviewer can tell numbers apart without learning them.
    keep = 4 if len(_digits(value)) >= 10 else 2
    seen = 0
    total = len(_digits(value))
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_ipv4(value: str) -> str:
    return value.split(".", 1)[0] + ".*.*.*"


def _mask_ipv6(value: str) -> str:
    first = value.split(":", 1)[0]
    return f"{first or ''}:****"


def _mask_custom(value: str) -> str:
    # Policy patterns match anything from employee ids to API keys: show the tail only when
    # the value is long enough that four characters reveal little.
    return "****" + value[-4:] if len(value) >= 12 else "****"


_MASKS = {
    "email": _mask_email,
    "ssn": _mask_ssn,
    "card": _mask_card,
    "iban": _mask_iban,
    "phone": _mask_phone,
    "ipv4": _mask_ipv4,
    "ipv6": _mask_ipv6,
}


def value_mask(*, kind: str, value: str) -> str:
    """The masked preview of ``value`` detected as ``kind`` (custom kinds keep a short tail)."""
    return _MASKS.get(kind, _mask_custom)(value)


# --------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------

_CONTEXT_CHARS = 32
_PHONE_WORDS = re.compile(
    r"\b(?:phone|telephone|tel|mobile|cell|cellphone|fax|sms|text|call|dial|whatsapp|msisdn"
    r"|contact|reach)\b"
)
_SSN_WORDS = re.compile(r"\b(?:ssn|ss#|ss no|social security|soc\.? ?sec)")
# Words that announce a number as something other than personal data.
_NOT_PII_WORDS = re.compile(
    r"(?:\b(?:order|invoice|inv|ref|reference|tracking|track|shipment|parcel|id|sku|isbn"
    r"|amount|total|price|balance|sum|timestamp|epoch|ts|build|version|ver|ticket|case"
    r"|batch|job|txn|transaction|serial|confirmation|po)\b[^a-z0-9]{0,4}(?:no\.?|number|#|:)?"
    r"|[#$€£¥])[^a-z0-9]{0,3}\Z"
)
_KEY_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PHONE_KEYS = frozenset(
    {"phone", "telephone", "tel", "mobile", "cell", "fax", "msisdn", "whatsapp", "sms"}
)
_SSN_KEYS = frozenset({"ssn", "social"})


@functools.lru_cache(maxsize=1024)  # payloads repeat the same few keys endlessly
def _key_tokens(key: str | None) -> frozenset[str]:
    if not key:
        return frozenset()
    return frozenset(_KEY_SPLIT.split(_CAMEL.sub("_", key).lower())) - {""}


def _before(text: str, start: int) -> str:
    return text[max(0, start - _CONTEXT_CHARS) : start].lower()


# --------------------------------------------------------------------------------------
# Detectors: each yields (kind, start, end) for confirmed values
# --------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    # not part of a longer word, and not an SSH remote such as git@github.com:org/repo
    r"(?![\w-]|:[\w/~])"
)


def _emails(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield "email", match.start(), match.end()


_SSN_FORMATTED = re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])")
_SSN_BARE = re.compile(r"(?<![\w-])\d{9}(?![\w-])")


def _ssns(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    for match in _SSN_FORMATTED.finditer(text):
        if stdnum_ssn.is_valid(match.group().replace(" ", "-")):
            yield "ssn", match.start(), match.end()
    key_says_ssn = bool(key_tokens & _SSN_KEYS)
    for match in _SSN_BARE.finditer(text):
        if not (key_says_ssn or _SSN_WORDS.search(_before(text, match.start()))):
            continue
        if stdnum_ssn.is_valid(match.group()):
            yield "ssn", match.start(), match.end()


# 13-19 digits with optional single space/dash separators; the run must not continue.
_CARD = re.compile(r"(?<![\w.])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![\w]|[ -]\d)")


def _card_issuer_known(digits: str) -> bool:
    length = len(digits)
    two, three, four, six = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return length == 16
    if two in (34, 37):  # American Express
        return length == 15
    if four == 6011 or 644 <= three <= 649 or two == 65 or 622126 <= six <= 622925:  # Discover
        return 16 <= length <= 19
    if 3528 <= four <= 3589:  # JCB
        return 16 <= length <= 19
    if 300 <= three <= 305 or two in (36, 38, 39):  # Diners Club
        return 14 <= length <= 19
    if two == 62:  # UnionPay
        return 16 <= length <= 19
    if two == 50 or 56 <= two <= 69:  # Maestro
        return 12 <= length <= 19
    return False


def _card_grouping_plausible(candidate: str) -> bool:
    separators = {ch for ch in candidate if not ch.isdigit()}
    if not separators:
        return True
    if len(separators) > 1:
        return False
    groups = candidate.split(separators.pop())
    # Issuers print 4-4-4-4(-3), 4-6-5 or 4-6-4; anything else is some other number.
    return len(groups[0]) == 4 and all(3 <= len(g) <= 6 for g in groups[1:-1])


def _cards(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    for match in _CARD.finditer(text):
        candidate = match.group()
        digits = _digits(candidate)
        if not (_card_issuer_known(digits) and _card_grouping_plausible(candidate)):
            continue
        if candidate.isdigit() and _NOT_PII_WORDS.search(_before(text, match.start())):
            continue
        if stdnum_luhn.is_valid(digits):
            yield "card", match.start(), match.end()


_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])"
)


def _ibans(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    for match in _IBAN.finditer(text):
        if stdnum_iban.is_valid(match.group()):
            yield "iban", match.start(), match.end()


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")


def _ipv4s(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    if "." not in text:
        return
    for match in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:  # out-of-range octets or leading zeros
            continue
        yield "ipv4", match.start(), match.end()


_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:])"
)


def _ipv6s(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    if ":" not in text:
        return
    for match in _IPV6.finditer(text):
        candidate = match.group()
        if not _DIGIT.search(candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield "ipv6", match.start(), match.end()


# Digit runs that could hold a phone number; phonenumbers only ever sees these windows, which
# keeps long texts cheap.
_PHONE_CANDIDATE = re.compile(r"\+?\(?\d(?:[ \t().\-/]{0,3}\d){6,}\)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _glued(text: str, start: int) -> bool:
    """True when the digits at ``start`` continue an identifier, a time or a decimal.

    ``ORD-2026-558812``, ``x4155552671``, ``10:00:00.123456`` and ``v2/4155552671`` are
    never phone numbers; deciding that here spares phonenumbers most of a payload's ids and
    timestamps, its most expensive non-findings.
    """
    if start == 0:
        return False
    prev = text[start - 1]
    if prev.isalnum() or prev == "_":
        return True
    if start >= 2:
        second = text[start - 2]
        if prev in "-./" and second.isalnum():
            return True
        if prev == ":" and second.isdigit():
            return True
    return False


def _phones(text: str, key_tokens: frozenset[str], region: str) -> Iterator[tuple[str, int, int]]:
    key_says_phone = bool(key_tokens & _PHONE_KEYS)
    for candidate in _PHONE_CANDIDATE.finditer(text):
        raw = candidate.group()
        start = candidate.start()
        digits = _digits(raw)
        if len(digits) < 7:
            continue
        international = raw.startswith("+")
        if not international:
            if _glued(text, start):
                continue
            date = _ISO_DATE.match(raw)
            if date and len(_digits(raw[date.end() :])) < 7:
                continue
            # The same context rules as below, applied before the costly matcher.
            before = _before(text, start)
            says_phone = key_says_phone or bool(_PHONE_WORDS.search(before))
            if not says_phone and (raw.isdigit() or _NOT_PII_WORDS.search(before)):
                continue
        # One character of context each side lets the matcher reject letter-glued numbers.
        offset = max(0, start - 1)
        window = text[offset : candidate.end() + 1]
        matcher = phonenumbers.PhoneNumberMatcher(
            window, region, leniency=phonenumbers.Leniency.STRICT_GROUPING
        )
        for found in matcher:
            found_start, found_end = offset + found.start, offset + found.end
            number = found.raw_string
            if number.startswith("+"):
                yield "phone", found_start, found_end
                continue
            before = _before(text, found_start)
            says_phone = key_says_phone or bool(_PHONE_WORDS.search(before))
            if number.isdigit():
                if says_phone:
                    yield "phone", found_start, found_end
            elif says_phone or not _NOT_PII_WORDS.search(before):
                yield "phone", found_start, found_end


_DETECTORS = {
    "email": _emails,
    "ssn": _ssns,
    "card": _cards,
    "iban": _ibans,
    "phone": _phones,
    "ipv4": _ipv4s,
    "ipv6": _ipv6s,
}
# Kinds whose values contain digits: strings without one skip them all.
_DIGIT_KINDS = frozenset({"ssn", "card", "iban", "ipv4", "phone", "ipv6"})

# Whole strings that are machine values and hold no personal data: UUIDs, timestamps, hex
# ids and digests (16 lowercase hex digits and more, a letter among them: W3C span ids, trace
# ids, hashes), decimals. Payloads are full of them, and recognising one is far cheaper than
# running every detector over it. No detector can match inside such a hex string: numbers
# must not touch a letter, IBANs are upper case, e-mail addresses need "@".
_MACHINE_VALUE = re.compile(
    r"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?)?"
    r"|(?=[0-9a-f]*[a-f])[0-9a-f]{16,128}"
    r"|-?\d{1,15}\.\d{1,15}"
    r")\Z"
)


# --------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------


def region_configured() -> str:
    """The phone region from the setting ``AGENTOPS_PII_DEFAULT_REGION`` (default ``"US"``)."""
    from django.conf import settings

    if settings.configured:
        return getattr(settings, "AGENTOPS_PII_DEFAULT_REGION", DEFAULT_REGION)
    return DEFAULT_REGION


def scanner_build(
    *,
    kinds: Iterable[str] = BUILTIN_KINDS,
    custom_patterns: Mapping[str, str | re.Pattern[str]] | None = None,
    region: str | None = None,
) -> PiiScanner:
    """A scanner for ``kinds`` plus named ``custom_patterns`` (name -> regex).

    ``region`` is the phone region for numbers written without ``+``; by default the setting
    ``AGENTOPS_PII_DEFAULT_REGION`` (``"US"`` when unset).
    """
    kinds = frozenset(kinds)
    unknown = kinds - set(BUILTIN_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds: {', '.join(sorted(unknown))}")
    region = (region or region_configured()).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r}")
    compiled = tuple(
        (name, pattern if isinstance(pattern, re.Pattern) else re.compile(pattern))
        for name, pattern in (custom_patterns or {}).items()
    )
    priority = {kind: rank for rank, kind in enumerate(BUILTIN_KINDS)}
    for rank, (name, _) in enumerate(compiled, start=len(BUILTIN_KINDS)):
        priority[name] = rank
    detectors = tuple((kind, _DETECTORS[kind]) for kind in BUILTIN_KINDS if kind in kinds)
    return PiiScanner(
        kinds=kinds,
        custom_patterns=compiled,
        region=region,
        _priority=MappingProxyType(priority),
        _detectors=detectors,
    )


def _raw_matches(
    scanner: PiiScanner, text: str, key_tokens: frozenset[str]
) -> Iterator[tuple[str, int, int]]:
    if scanner.kinds and not _MACHINE_VALUE.match(text):
        has_digit = _DIGIT.search(text) is not None
        for kind, detect in scanner._detectors:
            if has_digit or kind not in _DIGIT_KINDS:
                yield from detect(text, key_tokens, scanner.region)
    for name, pattern in scanner.custom_patterns:
        for match in pattern.finditer(text):
            if match.end() > match.start():
                yield name, match.start(), match.end()


def text_scan(*, scanner: PiiScanner, text: str, key: str | None = None) -> list[PiiMatch]:
    """Every PII value in ``text``, in text order, overlaps resolved by kind priority.

    ``key`` is the JSON key holding ``text``; it is context for bare phone and SSN numbers.
    """
    if len(text) > _CACHED_TEXT_CHARS:
        return list(_text_scan(scanner, text, key))
    return list(_text_scan_cached(scanner, text, key))


def _text_scan(scanner: PiiScanner, text: str, key: str | None) -> tuple[PiiMatch, ...]:
    raw = sorted(
        _raw_matches(scanner, text, _key_tokens(key)),
        key=lambda m: (scanner._priority[m[0]], m[1]),
    )
    kept: list[tuple[str, int, int]] = []
    for kind, start, end in raw:
        if all(end <= s or start >= e for _, s, e in kept):
            kept.append((kind, start, end))
    kept.sort(key=lambda m: m[1])
    return tuple(
        PiiMatch(kind, start, end, value_mask(kind=kind, value=text[start:end]))
        for kind, start, end in kept
    )


# Evaluation scans each payload string for findings and the tool audit masks the same
# argument strings moments later: a small cache makes the second look free. Only short
# strings are kept, so the cache stays a few megabytes at most.
_CACHED_TEXT_CHARS = 4096
_text_scan_cached = functools.lru_cache(maxsize=2048)(_text_scan)


def text_mask(*, scanner: PiiScanner, text: str, key: str | None = None) -> str:
    """``text`` with every PII value replaced by its masked preview."""
    matches = text_scan(scanner=scanner, text=text, key=key)
    if not matches:
        return text
    parts = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(match.preview)
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


_NUMBER_KEYS = _PHONE_KEYS | _SSN_KEYS


def _walk(payload: Any) -> Iterator[tuple[Any, str, str | None]]:
    """(location, text, nearest key) for every string in ``payload``, depth first, in order.

    A location is ``(parent location, key or index)`` down from ``None`` (the payload): a
    pair per value instead of a formatted path, which ``_path`` writes only when needed
    (for a match, not for each of the many strings without one)."""
    stack: list[tuple[Any, Any, str | None]] = [(payload, None, None)]
    while stack:
        value, where, key = stack.pop()
        kind = type(value)
        if kind is str:
            yield where, value, key
        elif kind is dict:
            stack.extend(
                (child, (where, name), name) for name, child in reversed(list(value.items()))
            )
        elif kind is list:
            stack.extend(
                (child, (where, index), key) for index, child in reversed(list(enumerate(value)))
            )
        elif kind is int and key is not None and _key_tokens(key) & _NUMBER_KEYS:
            yield where, str(value), key


def _path(where: Any) -> str:
    """The JSON path (``agentops_sdk.jsonpath``) of a location ``_walk`` gave."""
    steps = []
    while where is not None:
        where, step = where
        steps.append(step)
    path = "$"
    for step in reversed(steps):
        path = child_path(path, step)
    return path


def _strings(payload: Any) -> Iterator[tuple[str, str, str | None]]:
    """(path, text, nearest key) for every string in ``payload``, depth first, in order."""
    for where, text, key in _walk(payload):
        yield _path(where), text, key


def payload_strings(payload: Any) -> Iterator[tuple[str, str, str | None]]:
    """(JSON path, text, nearest key) of every string ``payload_scan`` looks at."""
    return _strings(payload)


def payload_matches(*, scanner: PiiScanner, payload: Any) -> Iterator[tuple[str, str, PiiMatch]]:
    """(JSON path, text, match) for every PII value in ``payload``: each string is visited and
    scanned once, whatever is made of its matches (findings, subject fingerprints)."""
    if payload is None:
        return
    for where, text, key in _walk(payload):
        matches = text_scan(scanner=scanner, text=text, key=key)
        if matches:
            path = _path(where)
            for match in matches:
                yield path, text, match


def matches_findings(
    matches: Iterable[tuple[str, str, PiiMatch]],
    *,
    sequence_number: int | None = None,
    event_id: str | None = None,
) -> list[PiiFinding]:
    """The findings (masked previews, never values) of ``payload_matches``' matches."""
    return [
        PiiFinding(
            sequence_number=sequence_number,
            event_id=event_id,
            path=path,
            kind=match.kind,
            preview=match.preview,
        )
        for path, _, match in matches
    ]


def payload_scan(
    *,
    scanner: PiiScanner,
    payload: Any,
    sequence_number: int | None = None,
    event_id: str | None = None,
) -> list[PiiFinding]:
    """Findings for every string in ``payload`` (recursively; keys serve as context only)."""
    return matches_findings(
        payload_matches(scanner=scanner, payload=payload),
        sequence_number=sequence_number,
        event_id=event_id,
    )


def event_scan(*, scanner: PiiScanner, event: Mapping[str, Any]) -> list[PiiFinding]:
    """Findings in the payload of one §2 event (a withheld payload has none)."""
    return payload_scan(
        scanner=scanner,
        payload=event.get("payload"),
        sequence_number=event.get("sequence_number"),
        event_id=event.get("event_id"),
    )


def scan_cache_clear() -> None:
    """Forget the texts the scan cache holds (after an erasure: they may be erased values)."""
    _text_scan_cached.cache_clear()
