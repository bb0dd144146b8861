"""A customer-support agent built with LangChain, recorded by AgentOps Replay.

The agent looks up an order, refunds it and e-mails the customer, using langchain-core tools.
Its "model" is langchain-core's fake chat model playing a fixed script (three tool calls,
then an answer), so the demo needs no network and no model key, and every run does the same.

Local mode (no flags): the SDK writes the session as JSONL into ``--out`` and verifies it. The
SDK computed the hashes itself, so the best it can be is NON_AUTHORITATIVE_EVIDENCE.

Remote mode (``--server URL --api-key KEY``): the ingestion service chains and seals the
session; the demo downloads the PDF report into ``--out`` and takes out the compliance JSON
export the PDF carries as an attachment (``pdfdetach``, poppler-utils), checks that its
SHA-256 is the one the PDF prints, fetches the service's public keys and verifies the JSON
offline: signature of the seal and of the whole export. It exits 1 unless the pair matches
and the verdict is AUTHORITATIVE_EVIDENCE.

    python examples/langchain_demo/run_demo.py
    python examples/langchain_demo/run_demo.py --server http://127.0.0.1:8000 --api-key KEY
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import langchain_core
import requests
from agentops_sdk import Client
from agentops_sdk.integrations.langchain import AgentOpsCallbackHandler
from agentops_sdk.seal import public_key_from_b64
from agentops_sdk.verify import render_text, verify_file
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

AGENT_ID = "support-bot"
CUSTOMER_EMAIL = "jane.doe@example.com"
CUSTOMER_MESSAGE = (
    f"Hi, this is Jane Doe ({CUSTOMER_EMAIL}). Order A-1042 arrived with a cracked screen. "
    "I would like my money back, please."
)
SYSTEM_PROMPT = (
    "You are the support agent of an electronics shop. Check the order before refunding, "
    "refund damaged deliveries in full, and confirm every refund to the customer by e-mail."
)

# The shop's back office, as far as the demo needs one.
ORDERS = {
    "A-1042": {
        "order_id": "A-1042",
        "customer": "Jane Doe",
        "email": CUSTOMER_EMAIL,
        "item": "Tablet 10in, 64 GB",
        "amount": 329.0,
        "currency": "EUR",
        "state": "delivered",
    }
}


@tool
def lookup_order(order_id: str) -> dict:
    """Look up an order: item, amount, state and the customer's contact."""
    order = ORDERS.get(order_id)
    return dict(order) if order else {"order_id": order_id, "error": "no such order"}


@tool
def issue_refund(order_id: str, amount: float, reason: str) -> dict:
    """Refund an order (in full or in part) and return the refund's reference."""
    return {
        "refund_id": f"RF-{order_id}",
        "order_id": order_id,
        "amount": amount,
        "state": "issued",
    }


@tool
def email_customer(to: str, subject: str, body: str) -> dict:
    """Send an e-mail to a customer."""
    return {"delivered": True, "to": to, "message_id": "msg-20260125-0001"}


TOOLS: list[BaseTool] = [lookup_order, issue_refund, email_customer]


class ScriptedChatModel(GenericFakeChatModel):
    """langchain-core's fake chat model, accepting tools as a real chat model does."""

    def bind_tools(self, tools: list[Any], **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


def scripted_model() -> ScriptedChatModel:
    """What a real model would plausibly answer, turn by turn."""

    def call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
        return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])

    return ScriptedChatModel(
        messages=iter(
            [
                call("lookup_order", {"order_id": "A-1042"}, "call_lookup"),
                call(
                    "issue_refund",
                    {"order_id": "A-1042", "amount": 329.0, "reason": "delivered damaged"},
                    "call_refund",
                ),
                call(
                    "email_customer",
                    {
                        "to": CUSTOMER_EMAIL,
                        "subject": "Your refund for order A-1042",
                        "body": "Dear Jane, we have refunded EUR 329.00 (reference RF-A-1042). "
                        "We are sorry about the damaged tablet.",
                    },
                    "call_email",
                ),
                AIMessage(
                    content="I'm sorry about the cracked screen, Jane. I have refunded the full "
                    "EUR 329.00 for order A-1042 (reference RF-A-1042) and sent you a "
                    "confirmation e-mail."
                ),
            ]
        )
    )


def support_agent(question: str, config: RunnableConfig) -> str:
    """The tool-calling loop: ask the model, run the tools it asks for, until it answers."""
    model = scripted_model().bind_tools(TOOLS)
    by_name = {t.name: t for t in TOOLS}
    messages: list[Any] = [SystemMessage(SYSTEM_PROMPT), HumanMessage(question)]
    for _ in range(10):  # a real agent bounds its loop too
        reply = model.invoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return str(reply.content)
        for call in reply.tool_calls:
            messages.append(by_name[call["name"]].invoke(call, config=config))
    raise RuntimeError("the agent did not finish within 10 turns")


def run_agent(client: Client) -> Any:
    """Run the agent once inside a recorded session; returns the session."""
    with client.session(
        AGENT_ID,
        metadata={"ticket": "SUP-7731", "channel": "e-mail"},
        environment="dev",
        framework="langchain",
        framework_version=langchain_core.__version__,
        tags=["demo"],
    ) as session:
        handler = AgentOpsCallbackHandler(session)
        answer = RunnableLambda(support_agent, name="support_agent").invoke(
            CUSTOMER_MESSAGE, config={"callbacks": [handler]}
        )
    print(f"agent answered: {answer}")
    return session


# --------------------------------------------------------------------------------------
# The two modes
# --------------------------------------------------------------------------------------


def run_local(out: Path) -> int:
    client = Client(local_dir=out, seal=True)
    session = run_agent(client)
    client.close(timeout=10)
    report = verify_file(session.path)
    print()
    print(render_text(report))
    print()
    print(f"session log (JSONL): {session.path}")
    print(f"evidence class: {report['evidence_class']}")
    print(
        "Local mode: the SDK computed the hashes itself. Run against the ingestion service "
        "(--server, --api-key) for authoritative evidence."
    )
    return 0 if report["status"] == "PASS" else 1


def run_remote(server: str, api_key: str | None, out: Path) -> int:
    client = Client(server, api_key, shutdown_timeout=30)
    session = run_agent(client)
    client.close(timeout=30)  # delivers every event, then the service seals the session
    stats = client.stats()
    if stats["dropped"]:
        print(f"warning: {stats['dropped']} events were not delivered", file=sys.stderr)
    if session.seal_result is None:
        print("error: the service did not seal the session; see the log above", file=sys.stderr)
        return 1
    print(f"session {session.session_id} sealed by the ingestion service")
    return evidence_report(client.config.server_url, client.config.api_key, session.session_id, out)


def evidence_report(base: str, api_key: str | None, session_id: str, out: Path) -> int:
    """Download the sealed session's PDF, check the compliance JSON it carries and verify it
    offline with the service's published keys; 0 only for AUTHORITATIVE_EVIDENCE."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {api_key}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        pdf_path = download(http, base, session_id, "pdf", out)
        # A reader of the export gets the service's key out of band; the service publishes
        # it at /api/v1/keys (no authentication), which is where the demo takes it from.
        published = http.get(f"{base}/api/v1/keys", timeout=30)
        published.raise_for_status()
    except requests.RequestException as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    key_texts = [entry["public_key"] for entry in published.json()["keys"]]
    try:
        json_path, cited = pdf_evidence(pdf_path, out)
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        print(f"error: cannot take the compliance JSON out of the PDF: {exc}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(json_path.read_bytes()).hexdigest()
    print(f"the PDF cites the compliance JSON with SHA-256 {cited}")
    print(f"the JSON attached to the PDF has SHA-256    {digest}")
    if digest != cited:
        print("error: the JSON attached to the PDF is not the one the PDF cites", file=sys.stderr)
        return 1
    print(f"PDF and JSON pair: the PDF carries the JSON it cites (SHA-256 {digest})")

    report = verify_file(json_path, trusted_keys=[public_key_from_b64(k) for k in key_texts])
    print()
    print(render_text(report))
    print()
    print("verify it yourself, offline:")
    print(
        "  agentops-verify "
        + " ".join([str(json_path), *(f"--trusted-key {k}" for k in key_texts)])
    )
    print()
    print(f"evidence class: {report['evidence_class']}")
    print(f"compliance export (JSON): {json_path}")
    print(f"compliance report (PDF):  {pdf_path}")
    return 0 if report["evidence_class"] == "AUTHORITATIVE_EVIDENCE" else 1


def pdf_evidence(pdf_path: Path, out: Path) -> tuple[Path, str]:
    """Save the compliance JSON attached to the PDF into ``out``; return its path and the
    SHA-256 the PDF prints for it (on its cover, "Its SHA-256")."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    cited = re.search(r"Its SHA-256\s+([0-9a-f]{64})", text)
    if cited is None:
        raise ValueError("the PDF prints no SHA-256 of a compliance JSON")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["pdfdetach", "-saveall", "-o", folder, str(pdf_path)],
            capture_output=True,
            check=True,
        )
        attached = [path for path in Path(folder).iterdir() if path.suffix == ".json"]
        if len(attached) != 1:
            raise ValueError(f"the PDF carries {len(attached)} JSON attachments, not one")
        name = attached[0].name
        if not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
            name = pdf_path.with_suffix(".json").name
        target = out / name
        target.write_bytes(attached[0].read_bytes())
    return target, cited.group(1)


def download(http: requests.Session, base: str, session_id: str, fmt: str, out: Path) -> Path:
    """Save one export of the session into ``out`` under the name the service gives it."""
    response = http.get(
        f"{base}/api/v1/sessions/{session_id}/export", params={"format": fmt}, timeout=120
    )
    response.raise_for_status()
    if response.status_code == 202:  # an export job (every PDF): wait for it, then fetch it
        response = job_download(http, response.headers["Location"])
    path = out / export_filename(response.headers.get("Content-Disposition", ""), session_id, fmt)
    path.write_bytes(response.content)
    return path


def job_download(http: requests.Session, job_url: str, timeout: float = 600.0):
    """Poll an export job until it is done, then fetch its file."""
    deadline = time.monotonic() + timeout
    while True:
        status = http.get(job_url, timeout=30)
        status.raise_for_status()
        job = status.json()
        if job["state"] == "done":
            break
        if job["state"] == "failed":
            raise RuntimeError(f"the export job failed: {job['error']}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the export job {job_url} did not finish in {timeout:.0f} s")
        time.sleep(0.5)
    response = http.get(job["download_url"], timeout=120)
    response.raise_for_status()
    return response


def export_filename(disposition: str, session_id: str, fmt: str) -> str:
    """The attachment's file name, reduced to a safe base name; a fixed one otherwise."""
    match = re.search(r'filename="?([^";]+)"?', disposition)
    name = Path(match.group(1)).name if match else ""
    if not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
        name = f"agentops-session-{session_id}.{fmt}"
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="the ingestion service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="an API key of the service (or AGENTOPS_API_KEY)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where files go (out/)")
    args = parser.parse_args(argv)
    if args.server:
        return run_remote(args.server, args.api_key, args.out)
    return run_local(args.out)


if __name__ == "__main__":
    sys.exit(main())
