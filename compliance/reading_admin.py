"""Findings and ledger pages in words: the policy findings, the export ledger and the erasure
ledger, read by people without a technical background.

Each page shows sentences and small tables with plain labels (``compliance.labels``) and
every time with its zone (``compliance.formatting``); the stored values stay one click away
in a collapsed "Technical detail" block. Mixed into the model admins in front of their own
classes; texts a producer or a caller chose are shown through the admin's masking.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .formatting import moment_text
from .labels import FIELD_LABELS, FINDINGS_SUMMARY_LABELS, PII_KINDS, evidence_label


def _shown(value: Any, obj: Any = None) -> str:
    """As the page's reader may see it (the console's masking, ``compliance.admin``)."""
    from .admin import _shown as admin_shown

    return admin_shown(value, obj)


def _technical(data: Any) -> SafeString:
    """The stored values, collapsed: for whoever needs the exact data."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html(
        '<details class="ao-detail"><summary>Technical detail (as stored)</summary>'
        '<pre class="ao-payload">{}</pre></details>',
        text,
    )


def _session_link(session_id: Any) -> SafeString:
    url = reverse("admin:ingestion_session_change", args=[session_id])
    return format_html('<a href="{}" class="ao-mono">Session {}</a>', url, str(session_id)[:8])


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _titled(base: type, title: str) -> type:
    """``base``, a field's list filter, under a plain title instead of the field's name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self.title = title

    return type(f"{base.__name__}Titled", (base,), {"__init__": __init__})


class _ReadInWords:
    """Shows ``words_fields`` (methods of the admin) as the change page, and
    ``words_list`` as the list's columns."""

    words_fields: tuple[str, ...] = ()
    words_list: tuple[str, ...] = ()
    words_filter_titles: dict[str, str] = {}

    def get_list_filter(self, request):
        filters = []
        for spec in super().get_list_filter(request):
            title = self.words_filter_titles.get(spec) if isinstance(spec, str) else None
            if title is None:
                filters.append(spec)
                continue
            field = self.model._meta.get_field(spec)
            base = (
                admin.BooleanFieldListFilter
                if field.get_internal_type() == "BooleanField"
                else admin.ChoicesFieldListFilter
                if field.choices
                else admin.AllValuesFieldListFilter
            )
            filters.append((spec, _titled(base, title)))
        return filters

    def get_fields(self, request, obj=None):
        return list(self.words_fields)

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": self.get_fields(request, obj)})]

    def get_readonly_fields(self, request, obj=None):
        return self.words_fields

    def get_list_display(self, request):
        return self.words_list or super().get_list_display(request)


# --------------------------------------------------------------------------------------
# Policy findings
# --------------------------------------------------------------------------------------


class FindingsInWords(_ReadInWords):
    words_fields = (
        "about",
        "result_words",
        "personal_data_words",
        "tool_words",
        "rules_table",
        "technical",
    )
    words_filter_titles = {"passed": "every rule met", "policy_name": "policy"}
    words_list = (
        "session_short",
        "policy",
        "evaluated",
        "result_words",
        "personal_data_found",
        "rules_broken",
    )

    @admin.display(description="Policy", ordering="policy_name")
    def policy(self, findings):
        return _shown(findings.policy_name, findings)

    @admin.display(description=FIELD_LABELS["evaluated_at"], ordering="evaluated_at")
    def evaluated(self, findings):
        return moment_text(findings.evaluated_at)

    @admin.display(description=FIELD_LABELS["pii_count"], ordering="pii_count")
    def personal_data_found(self, findings):
        return findings.pii_count

    @admin.display(description=FIELD_LABELS["rules_failed"], ordering="rules_failed")
    def rules_broken(self, findings):
        return findings.rules_failed

    @admin.display(description="What was checked")
    def about(self, findings):
        return format_html(
            '<p class="ao-words">{} was checked against the policy “{}” on {}, over {}. '
            "The fingerprint of the policy file is "
            '<span class="ao-mono">{}</span>.</p>',
            _session_link(findings.session_id),
            _shown(findings.policy_name, findings),
            moment_text(findings.evaluated_at),
            _plural(findings.event_count, "event"),
            findings.policy_sha256[:16] + "…",
        )

    @admin.display(description="Result")
    def result_words(self, findings):
        tone, symbol, text = (
            ("good", "✓", "Every rule met")
            if findings.passed
            else ("bad", "✕", _plural(findings.rules_failed, "rule") + " broken")
        )
        return format_html(
            '<span class="ao-badge ao-badge--{}"><span aria-hidden="true">{}</span> {}</span>',
            tone,
            symbol,
            text,
        )

    @admin.display(description="Personal data")
    def personal_data_words(self, findings):
        by_kind = (findings.summary or {}).get("pii_by_kind") or {}
        if not findings.pii_count:
            return "No value in the recorded events looks like personal data."
        kinds = ", ".join(
            f"{PII_KINDS.get(kind, kind)}: {count}" for kind, count in sorted(by_kind.items())
        )
        return format_html(
            '<p class="ao-words">{} in the recorded events {} like personal data{}. '
            "The session page lists them, masked.</p>",
            _plural(findings.pii_count, "value"),
            "looks" if findings.pii_count == 1 else "look",
            f" ({kinds})" if kinds else "",
        )

    @admin.display(description="Tool use")
    def tool_words(self, findings):
        calls = (findings.summary or {}).get("tool_calls")
        if not isinstance(calls, int):
            return "Not recorded in the summary; the session page shows each call."
        if calls == 0:
            return "The agent called no tool."
        return f"The agent made {_plural(calls, 'tool call')}; the session page shows each one."

    @admin.display(description="Rules")
    def rules_table(self, findings):
        rules = findings.rule_results or []
        if not rules:
            return "The policy has no rules to check."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            (
                (
                    _shown(rule.get("rule"), findings),
                    "Met" if rule.get("passed") else "Broken",
                    _shown(rule.get("message"), findings),
                    f" (events {', '.join(map(str, rule['sequence_numbers']))})"
                    if rule.get("sequence_numbers")
                    else "",
                )
                for rule in rules
            ),
        )
        return format_html(
            '<table class="ao-words-table"><thead><tr><th>Rule</th><th>Result</th>'
            "<th>What it found</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Stored values")
    def technical(self, findings):
        summary = {
            FINDINGS_SUMMARY_LABELS.get(key, key): value
            for key, value in (findings.summary or {}).items()
        }
        data = {
            "policy_sha256": findings.policy_sha256,
            "summary": summary,
            "rule_results": findings.rule_results,
        }
        return _technical(json.loads(_shown(json.dumps(data, ensure_ascii=False), findings)))


# --------------------------------------------------------------------------------------
# The export ledger
# --------------------------------------------------------------------------------------


def _export_what(record) -> str:
    size = record.size_bytes
    amount = f"{size / 1_048_576:.1f} MB" if size >= 1_048_576 else f"{size / 1024:.1f} KB"
    masked = ", masked copy" if record.redacted else ""
    return f"{record.get_format_display()} ({record.file_name}, {amount}{masked})"


class ExportRecordInWords(_ReadInWords):
    words_fields = ("record_words", "given", "verification_then", "fingerprint", "technical")
    words_filter_titles = {
        "channel": "asked through",
        "verification_status": "verification then",
        "delivered": "handed out",
    }
    words_list = (
        "recorded",
        "session_short",
        "format",
        "actor_shown",
        "channel",
        "verification_then",
        "sha256_short",
    )

    @admin.display(description=FIELD_LABELS["recorded_at"], ordering="recorded_at")
    def recorded(self, record):
        return moment_text(record.recorded_at)

    @admin.display(description="What")
    def record_words(self, record):
        return format_html(
            '<p class="ao-words">{} of {}, made {} and recorded in the ledger {}.</p>',
            _export_what(record),
            _session_link(record.session_id),
            moment_text(record.exported_at),
            moment_text(record.recorded_at),
        )

    @admin.display(description="Given to")
    def given(self, record):
        via = record.get_channel_display()
        if not record.delivered:
            handed = "Made only so that a PDF could cite its fingerprint; not handed out by itself."
        elif record.attached_to_pdf:
            handed = "Handed out inside the PDF that cites it."
        else:
            handed = "Handed out."
        return format_html(
            '<p class="ao-words">Asked for by {} through {}. {}</p>',
            _shown(record.actor, record),
            via.lower() if via else record.channel,
            handed,
        )

    @admin.display(description="Verification then")
    def verification_then(self, record):
        passed = record.verification_status == "PASS"
        label = evidence_label(record.evidence_class if passed else "FAILED")
        sealed = "sealed" if record.sealed else "not sealed"
        upto = (
            f", events 0 to {record.last_sequence_number}"
            if record.last_sequence_number is not None
            else ""
        )
        return format_html(
            '<span class="ao-badge ao-badge--{}" title="{}"><span aria-hidden="true">{}</span> '
            '{}</span> <span class="ao-quiet">({}{})</span>',
            label.tone,
            label.headline,
            label.symbol,
            label.short,
            sealed,
            upto,
        )

    @admin.display(description=FIELD_LABELS["sha256"])
    def fingerprint(self, record):
        return format_html('<span class="ao-mono ao-break">{}</span>', record.sha256)

    @admin.display(description="Stored values")
    def technical(self, record):
        data = {
            "format": record.format,
            "channel": record.channel,
            "verification_status": record.verification_status,
            "evidence_class": record.evidence_class,
            "last_event_hash": record.last_event_hash,
            "findings": record.findings_id,
            "json_export": record.json_export_id,
            "delivered": record.delivered,
            "attached_to_pdf": record.attached_to_pdf,
            "redacted": record.redacted,
        }
        return _technical(data)


# --------------------------------------------------------------------------------------
# The erasure ledger
# --------------------------------------------------------------------------------------


class ErasureInWords(_ReadInWords):
    words_fields = ("erasure_words", "why", "kept", "technical")
    words_list = ("erased", "request_ref", "session_ref", "event", "actor", "reason")

    @admin.display(description=FIELD_LABELS["erased_at"], ordering="erased_at")
    def erased(self, row):
        return moment_text(row.erased_at)

    @admin.display(description="Session", ordering="session")
    def session_ref(self, row):
        return _session_link(row.session_id)

    @admin.display(description=FIELD_LABELS["sequence_number"], ordering="sequence_number")
    def event(self, row):
        return row.sequence_number

    @admin.display(description="What was erased")
    def erasure_words(self, row):
        return format_html(
            '<p class="ao-words">The payload of event {} of {} was erased on {} by {}.</p>',
            row.sequence_number,
            _session_link(row.session_id),
            moment_text(row.erased_at),
            row.actor,
        )

    @admin.display(description="Why")
    def why(self, row):
        return format_html(
            '<p class="ao-words">Under request <strong>{}</strong>: {}</p>',
            row.request_ref,
            row.reason,
        )

    @admin.display(description="What is kept")
    def kept(self, row):
        return format_html(
            '<p class="ao-words">The event itself and its content fingerprint '
            '(<span class="ao-mono">{}…</span>) stay in the chain, so the session still '
            "verifies; the erased content can no longer be read by anyone.</p>",
            row.payload_hash[:16],
        )

    @admin.display(description="Stored values")
    def technical(self, row):
        return _technical(
            {
                "event_id": row.event_id,
                "payload_hash": row.payload_hash,
                "user": row.user_id,
            }
        )
