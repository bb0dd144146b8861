"""Command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .. import __version__, seal
from .codes import _KEY_ID, PASS, VerifyPolicy
from .files import LogFormatError, verify_file
from .render import _printable, render_text


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentops-verify",
        description="Verify an AgentOps session log (JSONL) or compliance export (JSON) "
        "offline. Exit status: 0 verified, 1 verification failed, 2 unusable input. "
        "'agentops-verify log-monitor --help': watch the service's transparency log.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("file", help="a .jsonl event log or a compliance .json export")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="BASE64_OR_PEM_PATH",
        help="the ingestion service's public key (base64 of the raw 32 bytes, or a PEM file); "
        "repeatable, e.g. for retired keys",
    )
    parser.add_argument(
        "--trusted-key-id",
        action="append",
        default=[],
        metavar="KEY_ID",
        help="trust the key embedded in a compliance export if its key id is this one "
        "(as published by the service)",
    )
    parser.add_argument(
        "--tsa-cert",
        metavar="PEM_OR_DER_PATH",
        help="check the RFC 3161 token of the export's log tree head against this TSA certificate",
    )
    parser.add_argument(
        "--reject-local-authority",
        action="store_true",
        help="fail sessions whose hashes were computed by the SDK itself",
    )
    parser.add_argument(
        "--require-authoritative",
        action="store_true",
        help="fail anything below AUTHORITATIVE_EVIDENCE",
    )
    return parser


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def _error(message: str) -> int:
    print(f"agentops-verify: {_printable(message)}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``agentops-verify``: 0 when the log verifies, 1 when it does not, 2 for unusable input."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["log-monitor"]:
        from .monitor import main as monitor_main

        return monitor_main(arguments[1:])
    args = _argument_parser().parse_args(arguments)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")

    trusted_keys = []
    for spec in args.trusted_key:
        try:
            trusted_keys.append(seal.public_key_load(spec))
        except (seal.KeyLoadError, ValueError, OSError) as exc:
            return _error(
                f"--trusted-key {spec}: not a usable key ({exc}); give the base64 of the raw "
                "32-byte public key or the path of a PEM file"
            )
    key_ids = [kid.strip().lower() for kid in args.trusted_key_id]
    for kid in key_ids:
        if not _KEY_ID.match(kid):
            return _error(f"--trusted-key-id {kid}: a key id is 16 hexadecimal characters")
    policy = VerifyPolicy(
        reject_local_authority=args.reject_local_authority,
        require_authoritative=args.require_authoritative,
    )

    if args.tsa_cert is not None:
        from .tsa import tsa_available

        if not tsa_available():
            return _error("--tsa-cert needs rfc3161-client: pip install 'agentops-sdk[tsa]'")
    try:
        report = verify_file(
            args.file,
            trusted_keys=trusted_keys,
            trusted_key_ids=key_ids,
            policy=policy,
            workers=None,  # large files on every usable CPU
            tsa_certificate=_read(args.tsa_cert),
        )
    except LogFormatError as exc:
        return _error(f"{args.file}: {exc}")
    except OSError as exc:
        return _error(f"cannot read {args.file}: {exc.strerror or exc}")
    except MemoryError:
        return _error(f"{args.file}: not enough memory to read it")

    if args.format == "json":
        output = json.dumps(report, indent=2, ensure_ascii=True)
    else:
        output = render_text(report)
    try:
        print(output)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head; the exit status still tells the verdict
        pass
    return 0 if report["status"] == PASS else 1
