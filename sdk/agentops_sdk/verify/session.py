"""The checks of the chain, event after event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import chain, seal
from .codes import (
    _LOG_DROP,
    _SEAL,
    _SESSION_END,
    _SESSION_START,
    AUTHORITATIVE_EVIDENCE,
    CHAIN_BROKEN,
    EMPTY_LOG,
    EXPORT_NOT_SIGNED,
    EXPORT_SIGNATURE_INVALID,
    FAIL,
    INVALID_GENESIS,
    INVALID_SEAL,
    KEY_NOT_TRUSTED,
    LOG_DROP_PRESENT,
    LOG_INCLUSION_INVALID,
    MISSING_FIELD,
    MISSING_SESSION_END,
    MIXED,
    MIXED_AUTHORITY,
    NON_AUTHORITATIVE_EVIDENCE,
    ORDERING_VIOLATION,
    PARTIAL_AUTHORITATIVE_EVIDENCE,
    PASS,
    POLICY_VIOLATION,
    SEAL_DIGEST_MISMATCH,
    SEAL_PAYLOAD_FIELDS,
    SEAL_SIGNATURE_INVALID,
    SEQUENCE_GAP,
    SESSION_MISMATCH,
    SIGNATURE_NOT_CHECKED,
    UNSEALED_SESSION,
    VerifyPolicy,
    _is_count,
    _member,
    _show,
)
from .events import _Checked, _event_checks
from .export_signature import ExportSignatureCheck


class _SessionCheck:
    """The state of one verification: a handful of values, never the events themselves."""

    def __init__(
        self,
        *,
        trusted_keys: Iterable[Ed25519PublicKey],
        embedded_key: Ed25519PublicKey | None,
        trusted_key_ids: Iterable[str],
        policy: VerifyPolicy,
    ) -> None:
        self.policy = policy
        self.embedded_key = embedded_key
        wanted_ids = {kid.strip().lower() for kid in trusted_key_ids}
        self.trusted: list[tuple[Ed25519PublicKey, str]] = [
            (key, seal.key_id(key)) for key in trusted_keys
        ]
        # An embedded key is trusted only when the caller named its key id out of band.
        if embedded_key is not None and seal.key_id(embedded_key) in wanted_ids:
            self.trusted.append((embedded_key, seal.key_id(embedded_key)))

        self.violations: list[dict[str, Any]] = []
        # (status, problem) of an export's transparency section (verify/transparency.py).
        self.log: tuple[str, str | None] | None = None
        self.position = 0  # events consumed so far
        self.seal_count = 0
        self.session_id: str | None = None  # set by the first event that has one
        self.authority: str | None = None  # likewise
        self.mixed = False
        self.expected_sequence = 0
        self.contiguous = True  # no sequence gap so far
        self.prev_hash: str | None = None  # event_hash stored in the preceding event
        self.last_hash: str | None = None  # event_hash stored in the last event
        self.seen_ids: set[int | str] = set()
        self.ended = False
        self.sealed = False
        self.drops = 0
        self.drops_known = True  # false once a LOG_DROP payload is withheld
        self.log_drop = False
        self.redacted: list[int | None] = []
        self.seal_report: dict[str, Any] | None = None
        self.signature_checked = False
        self.key_not_trusted = False
        # Set by ``verify_export`` for a compliance export: the check of its export signature.
        self.export: ExportSignatureCheck | None = None

    def flag(self, code: str, message: str, sequence: Any = None, event_id: Any = None) -> None:
        self.violations.append(
            {
                "type": code,
                "message": message,
                "sequence_number": sequence if _is_count(sequence) else None,
                "event_id": event_id if type(event_id) is str else None,
            }
        )

    def add(self, event: _Checked | tuple) -> None:
        """Report the event's own problems, then judge it against the events before it."""
        position = self.position
        self.position = position + 1
        (
            is_object,
            sequence,
            event_id,
            id_key,
            session_id,
            authority,
            event_type,
            has_prev,
            prev_hash,
            stored_hash,
            genesis_problem,
            problems,
            redacted,
            dropped,
            seal_payload,
        ) = event
        if not is_object:
            self.flag(MISSING_FIELD, f"entry {position + 1} of the log is not a JSON object")
            self._skip_sequence()
            self.prev_hash = self.last_hash = None
            return
        for code, message in problems:
            self.flag(code, message, sequence, event_id)

        if id_key is not None:
            seen = self.seen_ids
            size = len(seen)
            seen.add(id_key)
            if len(seen) == size:
                self.flag(
                    MISSING_FIELD,
                    f"event_id {_show(event_id)} is already used by an earlier event",
                    sequence,
                    event_id,
                )
        if session_id != self.session_id:
            self._check_session(session_id, sequence, event_id)
        if authority != self.authority:
            self._check_authority(authority, sequence, event_id)
        if type(sequence) is int and sequence == self.expected_sequence:
            self.expected_sequence = sequence + 1
        else:
            self._check_sequence(sequence, position, event_id)
        if position == 0:
            if genesis_problem is not None:
                self.flag(INVALID_GENESIS, genesis_problem, sequence, event_id)
        elif has_prev and self.prev_hash is not None and prev_hash != self.prev_hash:
            self.flag(
                CHAIN_BROKEN,
                "prev_event_hash does not match the event_hash of the preceding event",
                sequence,
                event_id,
            )
        if self.seal_count or self.ended or (event_type == _SESSION_START and position):
            self._check_order(event_type, position, sequence, event_id)

        if redacted:
            self.redacted.append(sequence if _is_count(sequence) else None)
            if event_type == _LOG_DROP:
                self.drops_known = False
        self.drops += dropped
        if event_type == _SEAL:
            self.seal_count += 1
            if self.seal_count == 1:
                self._check_seal(seal_payload, authority, position, sequence, event_id)
        elif event_type == _SESSION_END:
            self.ended = True
        elif event_type == _LOG_DROP:
            self.log_drop = True
        self.prev_hash = self.last_hash = stored_hash

    def _check_session(self, session_id: Any, sequence: Any, event_id: Any) -> None:
        """One session per log: the first event names it."""
        if type(session_id) is not str:
            return  # reported as a malformed field
        if self.session_id is None:
            self.session_id = session_id
            return
        self.flag(
            SESSION_MISMATCH,
            f"session_id {_show(session_id)} differs from the session's {_show(self.session_id)}",
            sequence,
            event_id,
        )

    def _check_authority(self, authority: Any, sequence: Any, event_id: Any) -> None:
        """One chain authority per session (spec §5): the first event sets it."""
        if not _member(authority, chain.AUTHORITIES):
            return  # reported as a malformed field
        if self.authority is None:
            self.authority = authority
            return
        self.mixed = True
        self.flag(
            MIXED_AUTHORITY,
            f"chain_authority {_show(authority)} differs from the session's "
            f"{_show(self.authority)}; one session has one chain authority",
            sequence,
            event_id,
        )

    def _skip_sequence(self) -> None:
        self.contiguous = False
        self.expected_sequence += 1

    def _check_sequence(self, sequence: Any, position: int, event_id: Any) -> None:
        """Report each jump once, then continue from the number found."""
        if not _is_count(sequence):
            self._skip_sequence()  # reported as a malformed field
            return
        expected = self.expected_sequence
        self.contiguous = False
        if position == 0:
            message = f"the log starts at sequence {sequence}; events 0-{sequence - 1} are missing"
        elif sequence > expected:
            missing = sequence - expected
            message = (
                f"sequence jumps from {expected - 1} to {sequence}: "
                f"{missing} event{'s' if missing > 1 else ''} missing"
            )
        else:
            message = f"sequence {sequence} repeats or goes back (the previous was {expected - 1})"
        self.flag(SEQUENCE_GAP, message, sequence, event_id)
        self.expected_sequence = sequence + 1

    def _check_order(self, event_type: Any, position: int, sequence: Any, event_id: Any) -> None:
        problem = chain.ordering_problem(
            event_type, first=position == 0, ended=self.ended, sealed=self.seal_count > 0
        )
        if problem is not None:
            self.flag(ORDERING_VIOLATION, problem, sequence, event_id)

    # ----------------------------------------------------------------------------------

    def _check_seal(
        self, payload: Any, authority: Any, position: int, sequence: Any, event_id: Any
    ) -> None:
        """Spec §6: structure, then the chain it closes, then its signature."""
        self.sealed = True
        where = (sequence, event_id)
        server = authority == chain.AUTHORITY_SERVER
        body = payload if isinstance(payload, Mapping) else {}
        signature = body.get("signature")
        self.seal_report = {
            "ingestion_service_id": body.get("ingestion_service_id"),
            "seal_timestamp": body.get("seal_timestamp"),
            "key_id": signature.get("key_id") if isinstance(signature, Mapping) else None,
            "signature_checked": False,
            "signature_valid": None,
            "key_trusted": False,
        }
        if not isinstance(payload, Mapping):
            self.flag(INVALID_SEAL, "the seal's payload is withheld or not an object", *where)
            return
        problems = _seal_shape_problems(payload, server=server)
        if problems:
            self.flag(INVALID_SEAL, "; ".join(problems), *where)
            return

        mismatches = self._seal_mismatches(payload, position)
        if mismatches:
            self.flag(SEAL_DIGEST_MISMATCH, "; ".join(mismatches), *where)

        if server:
            self._check_signature(payload, where)

    def _seal_mismatches(self, payload: Mapping[str, Any], position: int) -> list[str]:
        """How the seal's statements differ from the chain it closes.

        Not compared after a sequence gap: the SEQUENCE_GAP already shows that this is not
        the chain that was sealed, and repeating it at the seal would not locate anything.
        """
        if not self.contiguous:
            return []
        mismatches = []
        head = self.prev_hash
        if head is not None or position == 0:
            if payload["session_digest"] != f"sha256:{head}":
                mismatches.append("session_digest is not the hash of the last event before it")
            if payload["final_event_hash"] != head:
                mismatches.append("final_event_hash is not the hash of the last event before it")
        if payload["event_count"] != position:
            mismatches.append(
                f"event_count says {payload['event_count']} but {position} events precede it"
            )
        if payload["complete"] is not self.ended:
            mismatches.append(
                f"complete says {_show(payload['complete'])} but the chain "
                f"{'holds' if self.ended else 'has no'} SESSION_END"
            )
        if self.drops_known and payload["total_drops"] != self.drops:
            mismatches.append(
                f"total_drops says {payload['total_drops']} but the LOG_DROP events add up "
                f"to {self.drops}"
            )
        return mismatches

    def _check_signature(self, payload: Mapping[str, Any], where: tuple[Any, ...]) -> None:
        """Check with the caller's keys; only without any, with the key embedded in an export."""
        report = self.seal_report
        assert report is not None
        claimed = report["key_id"]
        session_id = self.session_id or ""
        if self.trusted:
            # The claimed key id picks the key first; retired keys are tried after it.
            ordered = sorted(self.trusted, key=lambda pair: pair[1] != claimed)
            report.update(signature_checked=True, key_trusted=True)
            self.signature_checked = True
            for key, kid in ordered:
                if seal.seal_signature_valid(key, session_id=session_id, seal_payload=payload):
                    report.update(signature_valid=True, key_id=kid)
                    return
            report["signature_valid"] = False
            self.flag(
                SEAL_SIGNATURE_INVALID,
                "the seal's signature does not verify under the trusted key(s)",
                *where,
            )
        elif self.embedded_key is not None:
            kid = seal.key_id(self.embedded_key)
            valid = seal.seal_signature_valid(
                self.embedded_key, session_id=session_id, seal_payload=payload
            )
            report.update(signature_checked=True, signature_valid=valid, key_id=kid)
            self.signature_checked = True
            if valid:
                self.key_not_trusted = True
            else:
                self.flag(
                    SEAL_SIGNATURE_INVALID,
                    "the seal's signature does not verify under the key embedded in the export",
                    *where,
                )

    # ----------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        if self.position == 0:
            self.flag(EMPTY_LOG, "the log holds no events")
        if self.export is not None and self.export.signature_valid is False:
            self.flag(EXPORT_SIGNATURE_INVALID, self.export.problem or "")
        if self.log is not None and self.log[1] is not None:
            self.flag(LOG_INCLUSION_INVALID, self.log[1])
        authority = MIXED if self.mixed else self.authority
        evidence_class, reasons = self._evidence() if not self.violations else (None, [])

        policy_problems = []
        if self.policy.reject_local_authority and self.authority == chain.AUTHORITY_SDK:
            policy_problems.append(
                "the policy rejects local (SDK) authority: the agent computed its own hashes"
            )
        if (
            self.policy.require_authoritative
            and evidence_class is not None
            and evidence_class != AUTHORITATIVE_EVIDENCE
        ):
            policy_problems.append(
                f"the policy requires AUTHORITATIVE_EVIDENCE; this session is {evidence_class}"
            )
        for message in policy_problems:
            self.flag(POLICY_VIOLATION, message)

        status = FAIL if self.violations else PASS
        if status == FAIL:
            evidence_class, reasons = None, []
        fingerprint = f"sha256:{self.last_hash}" if status == PASS else None
        report = {
            "spec_version": chain.SPEC_VERSION,
            "session_id": self.session_id,
            "status": status,
            "evidence_class": evidence_class,
            "authority": authority,
            "sealed": self.sealed,
            "complete": self.ended,
            "total_drops": self.drops,
            "partial_reasons": reasons,
            "event_count": self.position - self.seal_count,
            "replay_fingerprint": fingerprint,
            "seal": self.seal_report,
            "redacted_events": self.redacted,
            "violations": self.violations,
        }
        if self.export is not None:
            report["export_signature"] = self.export.section()
            report["coverage"] = self.export.coverage(self.seal_report)
        if self.log is not None:
            report["log_inclusion"] = self.log[0]
        return report

    def _evidence(self) -> tuple[str, list[str]]:
        if self.authority != chain.AUTHORITY_SERVER:
            return NON_AUTHORITATIVE_EVIDENCE, []
        reasons = []
        if not self.sealed:
            reasons.append(UNSEALED_SESSION)
        elif not self.signature_checked:
            reasons.append(SIGNATURE_NOT_CHECKED)
        elif self.key_not_trusted:
            reasons.append(KEY_NOT_TRUSTED)
        if not self.ended:
            reasons.append(MISSING_SESSION_END)
        if self.log_drop:
            reasons.append(LOG_DROP_PRESENT)
        export = self.export
        if export is not None:
            if not export.present:
                reasons.append(EXPORT_NOT_SIGNED)
            elif not export.signature_checked:
                if SIGNATURE_NOT_CHECKED not in reasons:
                    reasons.append(SIGNATURE_NOT_CHECKED)
            elif not export.key_trusted and KEY_NOT_TRUSTED not in reasons:
                reasons.append(KEY_NOT_TRUSTED)
        return (PARTIAL_AUTHORITATIVE_EVIDENCE if reasons else AUTHORITATIVE_EVIDENCE), reasons


def _seal_shape_problems(payload: Mapping[str, Any], *, server: bool) -> list[str]:
    """Why a seal payload is not a well-formed seal (INVALID_SEAL); empty when it is."""
    missing = [name for name in SEAL_PAYLOAD_FIELDS if name not in payload]
    if server and "signature" not in payload:
        missing.append("signature")
    if missing:
        return [f"the seal lacks {', '.join(missing)}"]
    problems = []
    if type(payload["ingestion_service_id"]) is not str:
        problems.append("ingestion_service_id must be a string")
    if not chain.is_rfc3339_utc(payload["seal_timestamp"]):
        problems.append("seal_timestamp must be an RFC 3339 UTC timestamp")
    digest = payload["session_digest"]
    if not (
        type(digest) is str and digest.startswith("sha256:") and chain.is_sha256_hex(digest[7:])
    ):
        problems.append("session_digest must be 'sha256:' and 64 lowercase hex characters")
    if not chain.is_sha256_hex(payload["final_event_hash"]):
        problems.append("final_event_hash must be 64 lowercase hex characters")
    for name in ("event_count", "total_drops"):
        if not _is_count(payload[name]):
            problems.append(f"{name} must be an integer >= 0")
    if type(payload["complete"]) is not bool:
        problems.append("complete must be true or false")
    if server:
        signature = payload["signature"]
        if not (
            isinstance(signature, Mapping)
            and signature.get("alg") == seal.SIGNATURE_ALG
            and type(signature.get("value")) is str
            and type(signature.get("key_id")) is str
        ):
            problems.append("signature must hold alg 'Ed25519', key_id and value")
    return problems


def verify_session(
    events: Iterable[Mapping[str, Any]],
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    embedded_key: Ed25519PublicKey | None = None,
    trusted_key_ids: Iterable[str] = (),
    policy: VerifyPolicy | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Verify one session's events, in log order, and return the spec §7 report.

    ``events`` is consumed once. ``trusted_keys`` are public keys the caller trusts out of band
    (the service's current and retired keys). ``embedded_key`` is the key found in a compliance
    export: it is used to check the seal only when no trusted key is given, and a valid
    signature under it alone is ``KEY_NOT_TRUSTED``, because whoever forged an export could
    embed a key of their own. It becomes trusted only when its key id is in
    ``trusted_key_ids`` (published by the service and given by the caller). Every event is
    checked; each problem is reported with its code, sequence number and event id.
    """
    check = _SessionCheck(
        trusted_keys=trusted_keys,
        embedded_key=embedded_key,
        trusted_key_ids=trusted_key_ids,
        policy=VerifyPolicy.from_value(policy),
    )
    add = check.add
    for event in events:
        add(_event_checks(event))
    return check.report()
