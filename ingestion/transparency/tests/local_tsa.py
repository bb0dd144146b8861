"""A real RFC 3161 time-stamping authority on a loopback port: ``openssl ts -reply`` behind a
small HTTP handler, with a root and a TSA certificate made by openssl for the test."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {name}
[tsa_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {folder}/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> bytes:
    return subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60
    ).stdout


@dataclass
class LocalTsa:
    url: str
    chain_pem: bytes  # the TSA's certificate, then the root that issued it


def _authority(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tsa.cnf").write_text(CONFIG.format(name=name, folder=folder))
    (folder / "serial").write_text("01\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", f"/CN={name} Root", "-config", "tsa.cnf", "-extensions", "ca_ext", cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-config", "tsa.cnf",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "2", "-extfile", "tsa.cnf",
        "-extensions", "tsa_ext", cwd=folder,
    )  # fmt: skip


@contextmanager
def local_tsa(folder: Path, name: str = "AgentOps Test TSA") -> Iterator[LocalTsa]:
    _authority(folder, name)
    lock = threading.Lock()  # openssl keeps its serial in a file

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                (folder / "query.tsq").write_bytes(query)
                try:
                    reply = _openssl(
                        "ts", "-reply", "-config", "tsa.cnf", "-queryfile", "query.tsq",
                        "-signer", "tsa.crt", "-inkey", "tsa.key", cwd=folder,
                    )  # fmt: skip
                except subprocess.CalledProcessError:
                    self.send_response(400)
                    self.end_headers()
                    return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        chain = (folder / "tsa.crt").read_bytes() + (folder / "ca.crt").read_bytes()
        yield LocalTsa(url=f"http://127.0.0.1:{server.server_address[1]}/tsa", chain_pem=chain)
    finally:
        server.shutdown()
        server.server_close()
