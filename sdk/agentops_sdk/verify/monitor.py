"""``agentops-verify log-monitor``: keep the service's transparency log honest from outside.

Each run fetches the latest signed tree head, checks its signature with a trusted key, and
checks that it extends the head remembered in the state file (a consistency proof, RFC 9162
§2.1.4). With ``--leaves`` it also downloads every new leaf and recomputes the root from the
remembered frontier, so a leaf the service leaves out or changes is caught too. The new head
is remembered only when everything holds.

Exit status: 0 consistent; 1 the log is inconsistent (fork, rollback, bad signature, missing
or altered leaf); 2 unusable input (arguments, state file, network, an answer that is not the
API's).

The state file is JSON: ``{"server", "keys": [base64...], "tree_head": {...},
"frontier": {...}}``. Without ``--trusted-key``, the first run pins the current key the
server publishes at ``/api/v1/keys`` (trust on first use) and later runs insist on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import merkle, seal

PAGE = 1000
TIMEOUT = 30


class Inconsistent(Exception):
    """The log broke a promise: the message says which."""


class Unusable(Exception):
    """The monitor could not do its work (network, arguments, state)."""


def _get(server: str, path: str, **query: Any) -> Any:
    url = server.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    # Only http(s): monitor_run refuses any other scheme in --server.
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            raise _ApiError(exc.code, str(error.get("code")), str(error.get("message"))) from None
        raise Unusable(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unusable(f"{url}: {exc}") from None


class _ApiError(Unusable):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.code = code


def _head_check(head: Any, keys: list[Any]) -> dict[str, Any]:
    if not isinstance(head, dict) or not isinstance(head.get("tree_size"), int):
        raise Unusable("the tree head is not an object with a tree_size")
    merkle.hex_hash(head.get("root_hash"))
    if not any(merkle.tree_head_signature_valid(key, head) for key in keys):
        raise Inconsistent(
            f"BAD SIGNATURE: the tree head of size {head['tree_size']} is not signed by a "
            "trusted key"
        )
    return head


def _consistency(server: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    first, second = old["tree_size"], new["tree_size"]
    old_root, new_root = bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"])
    if second < first:
        raise Inconsistent(
            f"ROLLBACK: the log now has {second} entries; it had {first} when last seen "
            f"(head of {old['timestamp']}). Entries were removed or an older copy restored."
        )
    if second == first:
        if old_root != new_root:
            raise Inconsistent(
                f"FORK: two different roots for the same size {first} "
                f"({old['root_hash']} remembered, {new['root_hash']} now)"
            )
        return
    if first == 0:
        return
    try:
        answer = _get(server, "/api/v1/log/consistency", first=first, second=second)
    except _ApiError as exc:
        raise Inconsistent(
            f"FORK: the server cannot prove that size {second} extends size {first} ({exc})"
        ) from None
    try:
        proof = [merkle.hex_hash(p) for p in answer["consistency_path"]]
        merkle.verify_consistency(
            first=first, second=second, first_root=old_root, second_root=new_root, proof=proof
        )
    except (merkle.ProofError, KeyError, TypeError) as exc:
        raise Inconsistent(
            f"FORK: the head of size {second} does not extend the remembered head of size "
            f"{first} ({exc}); the history seen before was rewritten"
        ) from None


def _catch_up(server: str, frontier: merkle.Frontier, head: dict[str, Any]) -> None:
    size = head["tree_size"]
    while frontier.size < size:
        start = frontier.size
        end = min(size, start + PAGE)
        try:
            page = _get(server, "/api/v1/log/leaves", start=start, end=end)
        except _ApiError as exc:
            raise Inconsistent(
                f"MISSING LEAF: leaves {start}..{end - 1} unavailable ({exc})"
            ) from None
        leaves = page.get("leaves") if isinstance(page, dict) else None
        if not isinstance(leaves, list) or not leaves:
            raise Inconsistent(f"MISSING LEAF: the server returned no leaf from {start}")
        for leaf in leaves:
            if not isinstance(leaf, dict) or leaf.get("leaf_index") != frontier.size:
                raise Inconsistent(
                    f"MISSING LEAF: entry {frontier.size} is missing from the log's leaves"
                )
            frontier.append(merkle.leaf_hash(str(leaf.get("leaf")).encode("utf-8")))
            if frontier.size == size:
                break
    if frontier.root() != bytes.fromhex(head["root_hash"]):
        raise Inconsistent(
            f"ALTERED LEAVES: the {size} leaves served do not hash to the signed root "
            f"{head['root_hash']}"
        )


def _state_load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Unusable(f"cannot read the state file {path}: {exc}") from None
    if not isinstance(state, dict):
        raise Unusable(f"the state file {path} is not a JSON object")
    return state


def _state_save(path: Path, state: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def _keys(server: str, state: dict[str, Any], given: list[str]) -> tuple[list[Any], list[str]]:
    specs = list(given) or list(state.get("keys") or [])
    if not specs:  # trust on first use: pin the key the server publishes now
        published = _get(server, "/api/v1/keys")
        specs = [k["public_key"] for k in published.get("keys", []) if k.get("status") == "current"]
        if not specs:
            raise Unusable("the server publishes no current key; give --trusted-key")
    keys = []
    for spec in specs:
        try:
            keys.append(seal.public_key_load(spec))
        except (seal.KeyLoadError, ValueError, OSError) as exc:
            raise Unusable(f"not a usable key {spec!r}: {exc}") from None
    return keys, [seal.public_key_b64(k) for k in keys]


def monitor_run(
    *, server: str, state_file: str | Path, trusted_keys: Sequence[str] = (), leaves: bool = False
) -> str:
    """One monitoring round; the summary line, or Inconsistent / Unusable."""
    if urllib.parse.urlsplit(server).scheme not in ("http", "https"):
        raise Unusable(f"--server must be an http or https URL, not {server!r}")
    path = Path(state_file)
    state = _state_load(path)
    if state.get("server") not in (None, server):
        raise Unusable(f"the state file {path} belongs to {state['server']}, not {server}")
    keys, pinned = _keys(server, state, list(trusted_keys))
    head = _head_check(_get(server, "/api/v1/log/tree-head"), keys)
    old = state.get("tree_head")
    if old is not None:
        _head_check(old, keys)
        _consistency(server, old, head)
    frontier = None
    if leaves:
        frontier = merkle.Frontier.from_json(state["frontier"]) if "frontier" in state else None
        if frontier is None or (old is not None and frontier.size != old["tree_size"]):
            frontier = merkle.Frontier()
        _catch_up(server, frontier, head)
    new_state = {"server": server, "keys": pinned, "tree_head": head}
    if frontier is not None:
        new_state["frontier"] = frontier.to_json()
    elif "frontier" in state and old is not None and head["tree_size"] == old["tree_size"]:
        new_state["frontier"] = state["frontier"]
    _state_save(path, new_state)
    seen = "first head" if old is None else f"extends size {old['tree_size']}"
    checked = ", leaves recomputed" if leaves else ""
    return (
        f"CONSISTENT: tree size {head['tree_size']}, root {head['root_hash']} "
        f"({seen}{checked}; signed {head['timestamp']})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="agentops-verify log-monitor",
        description="Check the service's transparency log against the head remembered in a "
        "state file. Exit status: 0 consistent, 1 inconsistent, 2 unusable input.",
    )
    parser.add_argument("--server", required=True, help="the service's base URL")
    parser.add_argument("--state", required=True, help="JSON file remembering the last head")
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="BASE64_OR_PEM_PATH",
        help="the key that signs tree heads (default: the key pinned in the state file, or "
        "the server's current key on the first run)",
    )
    parser.add_argument(
        "--leaves", action="store_true", help="download the new leaves and recompute the root"
    )
    args = parser.parse_args(argv)
    try:
        print(
            monitor_run(
                server=args.server,
                state_file=args.state,
                trusted_keys=args.trusted_key,
                leaves=args.leaves,
            )
        )
    except Inconsistent as exc:
        print(f"agentops-verify log-monitor: INCONSISTENT: {exc}", file=sys.stderr)
        return 1
    except Unusable as exc:
        print(f"agentops-verify log-monitor: {exc}", file=sys.stderr)
        return 2
    return 0
