"""YAML policies: loading with validation, evaluation of a session, ingestion-time checks.

A policy file is a YAML mapping; ``policy/policies/default.yaml`` documents every rule. Loading
composes the YAML into nodes first so that each problem names the file, line and rule, and
all problems are reported at once in one ``PolicyError``. A loaded ``Policy`` is immutable
and carries its ``name`` and the SHA-256 of the file's bytes, so every result says which
version of which policy produced it.

Each rule is one ``Rule`` object (``RULES``) holding both its check of a stored session
(``policy_evaluate``) and its check of a batch at ingestion time (``batch_violation``, the
hook ``policy.services.batch_check``), so a rule is written in one place.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from agentops_sdk.chain import NonCanonicalValueError, canonicalize

from policy.audit import STATUS_NO_RESULT, ToolAudit, ToolAuditor
from policy.pii import BUILTIN_KINDS, PiiFinding, PiiScanner, event_scan, scanner_build

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies" / "default.yaml"

PII_ACTIONS = ("flag", "reject")
#: At most this many sequence numbers are listed per rule result; the message gives the count.
MAX_LISTED_SEQUENCES = 100

_PATTERN_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")


# --------------------------------------------------------------------------------------
# Policy and its problems
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    source: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.rule}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    text_sha256: str
    source: str
    description: str = ""
    max_events_per_session: int | None = None
    max_payload_bytes: int | None = None
    require_session_end: bool = False
    require_tool_results: bool = False
    tools_requiring_args: tuple[str, ...] = ()
    allowed_tools: tuple[str, ...] | None = None
    denied_tools: tuple[str, ...] = ()
    pii_kinds: tuple[str, ...] = BUILTIN_KINDS
    pii_action: str = "flag"
    custom_patterns: tuple[tuple[str, str], ...] = ()
    scanner: PiiScanner = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.scanner is None:
            object.__setattr__(
                self,
                "scanner",
                scanner_build(kinds=self.pii_kinds, custom_patterns=dict(self.custom_patterns)),
            )

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.text_sha256, "source": self.source}


# --------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------


class _Reader:
    """Walks composed YAML nodes, constructing values and collecting problems with lines."""

    def __init__(self, source: str, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader
        self.problems: list[PolicyProblem] = []

    def fail(self, node: yaml.Node | None, rule: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(PolicyProblem(self.source, line, rule, message))

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, rule: str, known: Iterable[str] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Entries of a mapping node by key; unknown and repeated keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, rule, "must be a mapping")
            return {}
        known = tuple(known) if known is not None else None
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{rule}.{key}" if rule else str(key)
            if not isinstance(key, str):
                self.fail(key_node, rule or "policy", "keys must be strings")
            elif key in entries:
                first = entries[key][0].start_mark.line + 1
                self.fail(key_node, where, f"defined twice (first on line {first})")
            elif known is not None and key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.fail(key_node, where, f"unknown rule{suggestion}")
            else:
                entries[key] = (key_node, value_node)
        return entries

    def typed(self, node: yaml.Node, rule: str, check: Callable[[Any], bool], what: str) -> Any:
        value = self.value(node)
        if not check(value):
            self.fail(node, rule, f"must be {what}, not {_describe(value)}")
            return _INVALID
        return value

    def string_list(self, node: yaml.Node, rule: str) -> tuple[str, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, rule, f"must be a list of strings, not {_describe(self.value(node))}")
            return None
        items = []
        for item in node.value:
            value = self.value(item)
            if _is_nonempty_str(value):
                items.append(value)
            else:
                self.fail(item, rule, f"items must be non-empty strings, not {_describe(value)}")
        return tuple(items)


_INVALID = object()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and 0 < len(value) <= 40:
        return repr(value)
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "a mapping"
    )


def _is_nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_positive_int(value: Any) -> bool:
    return type(value) is int and value >= 1


def _is_bool(value: Any) -> bool:
    return type(value) is bool


_TOP_LEVEL = (
    "name",
    "description",
    "max_events_per_session",
    "max_payload_bytes",
    "require_session_end",
    "required_tool_logging",
    "allowed_tools",
    "denied_tools",
    "pii",
    "custom_patterns",
)


def _read_policy(reader: _Reader, root: yaml.Node) -> dict[str, Any]:
    """Validated keyword arguments for ``Policy`` (minus name/hash/source bookkeeping)."""
    entries = reader.mapping(root, "", _TOP_LEVEL)
    fields: dict[str, Any] = {}

    def scalar(key: str, check: Callable[[Any], bool], what: str, *, nullable: bool = False):
        if key not in entries:
            return
        node = entries[key][1]
        if nullable and reader.value(node) is None:
            fields[key] = None
            return
        value = reader.typed(node, key, check, what)
        if value is not _INVALID:
            fields[key] = value

    if "name" not in entries:
        reader.fail(root, "name", "is required")
    scalar("name", _is_nonempty_str, "a non-empty string")
    scalar("description", lambda v: isinstance(v, str), "a string")
    scalar("max_events_per_session", _is_positive_int, "an integer >= 1 or null", nullable=True)
    scalar("max_payload_bytes", _is_positive_int, "an integer >= 1 or null", nullable=True)
    scalar("require_session_end", _is_bool, "true or false")

    if "required_tool_logging" in entries:
        node = entries["required_tool_logging"][1]
        logging = reader.mapping(node, "required_tool_logging", ("results", "args_for"))
        if "results" in logging:
            value = reader.typed(
                logging["results"][1], "required_tool_logging.results", _is_bool, "true or false"
            )
            if value is not _INVALID:
                fields["require_tool_results"] = value
        if "args_for" in logging:
            tools = reader.string_list(logging["args_for"][1], "required_tool_logging.args_for")
            if tools is not None:
                fields["tools_requiring_args"] = tools

    if "allowed_tools" in entries:
        node = entries["allowed_tools"][1]
        if reader.value(node) is None:
            fields["allowed_tools"] = None
        else:
            tools = reader.string_list(node, "allowed_tools")
            if tools is not None:
                fields["allowed_tools"] = tools
    if "denied_tools" in entries:
        tools = reader.string_list(entries["denied_tools"][1], "denied_tools")
        if tools is not None:
            fields["denied_tools"] = tools

    if "pii" in entries:
        pii = reader.mapping(entries["pii"][1], "pii", ("kinds", "action"))
        if "kinds" in pii:
            kinds = reader.string_list(pii["kinds"][1], "pii.kinds")
            if kinds is not None:
                for item, kind in zip(pii["kinds"][1].value, kinds, strict=False):
                    if kind not in BUILTIN_KINDS:
                        reader.fail(
                            item,
                            "pii.kinds",
                            f"unknown kind {kind!r}; known: {', '.join(BUILTIN_KINDS)}",
                        )
                fields["pii_kinds"] = tuple(k for k in kinds if k in BUILTIN_KINDS)
        if "action" in pii:
            value = reader.typed(
                pii["action"][1], "pii.action", lambda v: v in PII_ACTIONS, "'flag' or 'reject'"
            )
            if value is not _INVALID:
                fields["pii_action"] = value

    if "custom_patterns" in entries:
        node = entries["custom_patterns"][1]
        if reader.value(node) is None:
            fields["custom_patterns"] = ()
        else:
            fields["custom_patterns"] = _read_patterns(reader, node)
    return fields


def _read_patterns(reader: _Reader, node: yaml.Node) -> tuple[tuple[str, str], ...]:
    patterns = []
    for name, (key_node, value_node) in reader.mapping(node, "custom_patterns", None).items():
        rule = f"custom_patterns.{name}"
        if not _PATTERN_NAME.match(name):
            reader.fail(key_node, rule, "names are lower-case letters, digits and _")
            continue
        if name in BUILTIN_KINDS:
            reader.fail(key_node, rule, "is a built-in PII kind; choose another name")
            continue
        pattern = reader.typed(value_node, rule, _is_nonempty_str, "a regular expression string")
        if pattern is _INVALID:
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            reader.fail(value_node, rule, f"bad regular expression: {exc}")
            continue
        # A pattern that matches nothing at all would flag every string in every payload.
        if compiled.fullmatch(""):
            reader.fail(value_node, rule, "matches the empty string")
            continue
        patterns.append((name, pattern))
    return tuple(patterns)


def policy_parse(*, text: bytes | str, source: str = "<policy>") -> Policy:
    """Validate and load a policy from its text; raises ``PolicyError`` listing every problem."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    digest = hashlib.sha256(data).hexdigest()
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyProblem(source, 1, "policy", f"not UTF-8 text: {exc}")]) from None

    loader = yaml.SafeLoader(decoded)
    reader = _Reader(source, loader)
    try:
        root = loader.get_single_node()
        if root is None:
            reader.fail(None, "policy", "the file is empty")
            fields = {}
        else:
            fields = _read_policy(reader, root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise PolicyError([PolicyProblem(source, line, "yaml", message)]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyProblem(source, 1, "yaml", str(exc))]) from None
    finally:
        loader.dispose()
    if reader.problems:
        raise PolicyError(sorted(reader.problems, key=lambda problem: problem.line))
    return Policy(text_sha256=digest, source=source, **fields)


def policy_load(*, path: str | Path) -> Policy:
    """Load the policy file at ``path`` (see ``policy_parse``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(str(path), 1, "policy", exc.strerror or str(exc))]
        ) from None
    return policy_parse(text=data, source=str(path))


def policy_default() -> Policy:
    """The policy shipped with the project (``policy/policies/default.yaml``)."""
    return policy_load(path=DEFAULT_POLICY_FILE)


# --------------------------------------------------------------------------------------
# Shared rule helpers
# --------------------------------------------------------------------------------------


def _matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def tool_refusal(*, policy: Policy, tool_name: str) -> str | None:
    """Why ``policy`` forbids calling ``tool_name``, or None when it may be called."""
    if _matches_any(tool_name, policy.denied_tools):
        return f"tool {tool_name!r} is denied"
    if policy.allowed_tools is not None and not _matches_any(tool_name, policy.allowed_tools):
        return f"tool {tool_name!r} is not in allowed_tools"
    return None


def payload_size(payload: Any) -> int | None:
    """Bytes of the canonical (RFC 8785) payload; None when it has no canonical form."""
    try:
        return len(canonicalize(payload))
    except NonCanonicalValueError:
        # Ingestion rejects such payloads itself, with a precise error; not a policy matter.
        return None


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    passed: bool
    message: str
    sequence_numbers: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "message": self.message,
            "sequence_numbers": list(self.sequence_numbers),
        }


@dataclass(frozen=True, slots=True)
class PolicyReport:
    policy_name: str
    policy_sha256: str
    event_count: int
    pii_findings: tuple[PiiFinding, ...]
    tool_audit: ToolAudit
    rule_results: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.rule_results)

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for finding in self.pii_findings:
            by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
        return {
            "event_count": self.event_count,
            "pii_findings": len(self.pii_findings),
            "pii_by_kind": dict(sorted(by_kind.items())),
            "tool_calls": len(self.tool_audit.calls),
            "rules_checked": len(self.rule_results),
            "rules_failed": sum(not result.passed for result in self.rule_results),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": {"name": self.policy_name, "sha256": self.policy_sha256},
            "summary": self.summary(),
            "passed": self.passed,
            "rule_results": [result.as_dict() for result in self.rule_results],
            "pii_findings": [finding.as_dict() for finding in self.pii_findings],
            "tool_audit": self.tool_audit.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class BatchViolation:
    """Why a batch of proposed events must be refused, and with which HTTP status."""

    rule: str
    status: int
    message: str
    sequence_number: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "message": self.message,
            "sequence_number": self.sequence_number,
        }


def _listed(sequence_numbers: list[int]) -> tuple[int, ...]:
    return tuple(sequence_numbers[:MAX_LISTED_SEQUENCES])


def _count_message(count: int, what: str) -> str:
    more = f" (first {MAX_LISTED_SEQUENCES} listed)" if count > MAX_LISTED_SEQUENCES else ""
    return f"{count} {what}{more}"


# --------------------------------------------------------------------------------------
# The rules: each one's check of a whole session and of a batch at ingestion time
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionSeen:
    """What a session evaluation gathered for every rule: the events counted (the seal
    excepted), the tool audit and the PII findings."""

    event_count: int
    audit: ToolAudit
    findings: Sequence[PiiFinding]


@dataclass(slots=True)
class Batch:
    """A batch of proposed events, as ``batch_violation`` is given it."""

    proposals: list[Mapping[str, Any]]
    event_count_after: int
    payload_bytes: Sequence[int] | None = None


class Rule(ABC):
    """One rule of a policy, in one place: ``see`` and ``result`` judge a stored session
    (``policy_evaluate``), ``batch_check`` a batch before it is stored (``batch_violation``).

    A rule object serves one evaluation: ``see`` keeps what the rule needs of each event.
    ``applies`` says whether the policy sets the rule at all; a rule it does not set is
    neither reported nor checked.
    """

    __slots__ = ("policy",)
    #: How results and refusals name the rule: its key in the policy file.
    name = ""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @staticmethod
    @abstractmethod
    def applies(policy: Policy) -> bool:
        """Whether ``policy`` sets this rule."""

    def see(self, event: Mapping[str, Any], count: int) -> None:
        """Take note of ``event``, the ``count``-th counted event of the session; rules that
        judge only the session's totals keep nothing."""
        return None

    @abstractmethod
    def result(self, seen: SessionSeen) -> RuleResult:
        """The rule's verdict on the whole session, once every event has been seen."""

    def batch_check(self, batch: Batch) -> BatchViolation | None:
        """Why the batch must be refused under this rule; None for a rule that is checked
        only on the whole session."""
        return None


class MaxEventsPerSession(Rule):
    name = "max_events_per_session"
    __slots__ = ("over",)

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.over: list[int] = []

    @staticmethod
    def applies(policy: Policy) -> bool:
        return policy.max_events_per_session is not None

    def see(self, event: Mapping[str, Any], count: int) -> None:
        if count > self.policy.max_events_per_session:
            self.over.append(event.get("sequence_number"))

    def result(self, seen: SessionSeen) -> RuleResult:
        beyond = f", {len(self.over)} beyond it" if self.over else ""
        return RuleResult(
            self.name,
            not self.over,
            f"{seen.event_count} events; limit {self.policy.max_events_per_session}{beyond}",
            _listed(self.over),
        )

    def batch_check(self, batch: Batch) -> BatchViolation | None:
        limit = self.policy.max_events_per_session
        if limit is None or batch.event_count_after <= limit:
            return None
        return BatchViolation(
            self.name,
            409,
            f"the session would hold {batch.event_count_after} events; the policy allows {limit}",
        )


class MaxPayloadBytes(Rule):
    name = "max_payload_bytes"
    __slots__ = ("oversized",)

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.oversized: list[int] = []

    @staticmethod
    def applies(policy: Policy) -> bool:
        return policy.max_payload_bytes is not None

    def see(self, event: Mapping[str, Any], count: int) -> None:
        payload = event.get("payload")
        if payload is not None:
            size = payload_size(payload)
            if size is not None and size > self.policy.max_payload_bytes:
                self.oversized.append(event.get("sequence_number"))

    def result(self, seen: SessionSeen) -> RuleResult:
        return RuleResult(
            self.name,
            not self.oversized,
            _count_message(
                len(self.oversized),
                f"payloads over {self.policy.max_payload_bytes} canonical bytes",
            ),
            _listed(self.oversized),
        )

    def batch_check(self, batch: Batch) -> BatchViolation | None:
        limit = self.policy.max_payload_bytes
        sizes = batch.payload_bytes
        if sizes is None:
            sizes = [
                payload_size(p["payload"]) if p.get("payload") is not None else None
                for p in batch.proposals
            ]
        for proposal, size in zip(batch.proposals, sizes, strict=True):
            if size is not None and size > limit:
                return BatchViolation(
                    self.name,
                    413,
                    f"payload is {size} canonical bytes; the policy allows {limit}",
                    proposal.get("sequence_number"),
                )
        return None


class RequireSessionEnd(Rule):
    name = "require_session_end"
    __slots__ = ("ended",)

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.ended = False

    @staticmethod
    def applies(policy: Policy) -> bool:
        return policy.require_session_end

    def see(self, event: Mapping[str, Any], count: int) -> None:
        if event.get("event_type") == "SESSION_END":
            self.ended = True

    def result(self, seen: SessionSeen) -> RuleResult:
        return RuleResult(
            self.name,
            self.ended,
            "SESSION_END present" if self.ended else "the session has no SESSION_END",
        )


class RequiredToolResults(Rule):
    name = "required_tool_logging.results"
    __slots__ = ()

    @staticmethod
    def applies(policy: Policy) -> bool:
        return policy.require_tool_results

    def result(self, seen: SessionSeen) -> RuleResult:
        unanswered = [
            call.call_sequence_number
            for call in seen.audit.calls
            if call.status == STATUS_NO_RESULT
        ]
        return RuleResult(
            self.name,
            not unanswered,
            _count_message(len(unanswered), "tool calls without a TOOL_RESULT or ERROR"),
            _listed(unanswered),
        )


def _tool_call(event: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(tool name, payload) of a TOOL_CALL event; None for any other event."""
    payload = event.get("payload")
    if event.get("event_type") != "TOOL_CALL" or not isinstance(payload, Mapping):
        return None
    return str(payload.get("tool_name") or ""), payload


class RequiredToolArgs(Rule):
    name = "required_tool_logging.args_for"
    __slots__ = ("hash_only",)

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.hash_only: list[int] = []

    @staticmethod
    def applies(policy: Policy) -> bool:
        return bool(policy.tools_requiring_args)

    def see(self, event: Mapping[str, Any], count: int) -> None:
        call = _tool_call(event)
        if call is None:
            return
        tool_name, payload = call
        if _matches_any(tool_name, self.policy.tools_requiring_args) and not isinstance(
            payload.get("args"), Mapping
        ):
            self.hash_only.append(event.get("sequence_number"))

    def result(self, seen: SessionSeen) -> RuleResult:
        return RuleResult(
            self.name,
            not self.hash_only,
            _count_message(len(self.hash_only), "calls that must log args but did not"),
            _listed(self.hash_only),
        )


class Tools(Rule):
    name = "tools"
    __slots__ = ("forbidden", "reasons")

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.forbidden: list[int] = []
        self.reasons: set[str] = set()

    @staticmethod
    def applies(policy: Policy) -> bool:
        return policy.allowed_tools is not None or bool(policy.denied_tools)

    def see(self, event: Mapping[str, Any], count: int) -> None:
        call = _tool_call(event)
        if call is None:
            return
        refusal = tool_refusal(policy=self.policy, tool_name=call[0])
        if refusal is not None:
            self.forbidden.append(event.get("sequence_number"))
            self.reasons.add(refusal)

    def result(self, seen: SessionSeen) -> RuleResult:
        reasons = "; ".join(sorted(self.reasons))
        return RuleResult(
            self.name,
            not self.forbidden,
            _count_message(len(self.forbidden), "calls to forbidden tools")
            + (f": {reasons}" if reasons else ""),
            _listed(self.forbidden),
        )

    def batch_check(self, batch: Batch) -> BatchViolation | None:
        for proposal in batch.proposals:
            call = _tool_call(proposal)
            if call is None:
                continue
            refusal = tool_refusal(policy=self.policy, tool_name=call[0])
            if refusal is not None:
                return BatchViolation(self.name, 409, refusal, proposal.get("sequence_number"))
        return None


class Pii(Rule):
    """Personal data: reported under action "flag" (as PII exposure, not a violation);
    under "reject" it should never have been stored, and a batch holding any is refused."""

    name = "pii"
    __slots__ = ()

    @staticmethod
    def applies(policy: Policy) -> bool:
        return bool(policy.scanner.kinds or policy.scanner.custom_patterns)

    def result(self, seen: SessionSeen) -> RuleResult:
        findings = seen.findings
        with_pii = sorted({f.sequence_number for f in findings if f.sequence_number is not None})
        return RuleResult(
            self.name,
            not findings or self.policy.pii_action == "flag",
            f"{len(findings)} findings in {len(with_pii)} events "
            f"(action: {self.policy.pii_action})",
            _listed(with_pii),
        )

    def batch_check(self, batch: Batch) -> BatchViolation | None:
        if self.policy.pii_action != "reject":
            return None
        for proposal in batch.proposals:
            findings = event_scan(scanner=self.policy.scanner, event=proposal)
            if findings:
                first = findings[0]
                return BatchViolation(
                    self.name,
                    409,
                    f"{first.kind} found at {first.path} ({first.preview}); "
                    "the policy rejects personal data",
                    proposal.get("sequence_number"),
                )
        return None


#: Every rule, in the order results are reported and batches are checked.
RULES: tuple[type[Rule], ...] = (
    MaxEventsPerSession,
    MaxPayloadBytes,
    RequireSessionEnd,
    RequiredToolResults,
    RequiredToolArgs,
    Tools,
    Pii,
)


def policy_rules(*, policy: Policy) -> list[Rule]:
    """A fresh object of each rule ``policy`` sets, in ``RULES`` order."""
    return [rule(policy) for rule in RULES if rule.applies(policy)]


# --------------------------------------------------------------------------------------
# Evaluation of a whole session
# --------------------------------------------------------------------------------------


def policy_evaluate(
    *,
    policy: Policy,
    events: Iterable[Mapping[str, Any]],
    on_values: Callable[[Mapping[str, Any], list[tuple[str, str]]], None] | None = None,
) -> PolicyReport:
    """Evaluate ``policy`` over a session's events (in sequence order), in one pass.

    The service's own CHAIN_SEAL is not agent data: it is neither scanned nor counted. The
    PII findings and the tool audit are reported whatever the rules; each rule of
    ``policy_rules`` then sees every event and gives its result. ``on_values``, when given,
    is called with each event that has findings and the (kind, value) of each: the values
    found by this very scan (the seal hook fingerprints them), never stored here.
    """
    auditor = ToolAuditor(scanner=policy.scanner)
    findings: list[PiiFinding] = []
    rules = policy_rules(policy=policy)
    event_count = 0
    for event in events:
        if event.get("event_type") == "CHAIN_SEAL":
            continue
        event_count += 1
        if on_values is None:
            findings.extend(event_scan(scanner=policy.scanner, event=event))
        else:
            values: list[tuple[str, str]] = []
            findings.extend(event_scan(scanner=policy.scanner, event=event, values=values))
            if values:
                on_values(event, values)
        auditor.add(event)
        for rule in rules:
            rule.see(event, event_count)
    seen = SessionSeen(event_count=event_count, audit=auditor.audit(), findings=findings)
    return PolicyReport(
        policy_name=policy.name,
        policy_sha256=policy.text_sha256,
        event_count=event_count,
        pii_findings=tuple(findings),
        tool_audit=seen.audit,
        rule_results=tuple(rule.result(seen) for rule in rules),
    )


# --------------------------------------------------------------------------------------
# Ingestion-time checks
# --------------------------------------------------------------------------------------


def batch_violation(
    *,
    policy: Policy,
    proposals: Iterable[Mapping[str, Any]],
    event_count_after: int,
    payload_bytes: Sequence[int] | None = None,
) -> BatchViolation | None:
    """The first ingestion-time rule a batch breaks, or None.

    Checked in the order of ``RULES``: ``max_events_per_session`` (409),
    ``max_payload_bytes`` (413, canonical bytes; ``payload_bytes`` gives them when the caller
    has already serialized the payloads), forbidden tools (409), ``pii`` with action
    ``reject`` (409). The message shows masked values only.
    """
    batch = Batch(
        proposals=list(proposals), event_count_after=event_count_after, payload_bytes=payload_bytes
    )
    for rule in policy_rules(policy=policy):
        violation = rule.batch_check(batch)
        if violation is not None:
            return violation
    return None
