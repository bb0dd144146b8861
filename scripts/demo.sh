#!/usr/bin/env bash
# make demo: the whole path on one machine, from a fresh clone.
#
# Sets up the virtualenv, migrates a database of the demo's own (var/demo.sqlite3, so nothing
# else is touched), creates an API key, starts the ingestion service on a free loopback port,
# runs the LangChain demo agent against it (examples/langchain_demo/run_demo.py: the service
# seals the session, the demo downloads the PDF report, takes out the compliance JSON it
# carries, checks that its SHA-256 is the one the PDF cites and verifies it offline), prints
# a summary and stops the service it started. Exits non-zero unless the PDF carries the JSON
# it cites and that JSON verifies as AUTHORITATIVE_EVIDENCE.
#
# DEMO_AGENT names another agent script taking the same options (make demo-otel: the agent
# instrumented only with OpenTelemetry, examples/otel_demo/run_demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

VENV=${VENV:-.venv}
DEMO_AGENT=${DEMO_AGENT:-examples/langchain_demo/run_demo.py}
DEMO_NAME=${DEMO_NAME:-make demo}
OUT=${OUT:-out}
py="$VENV/bin/python"
server_log=var/demo-server.log
demo_db=var/demo.sqlite3

./scripts/bootstrap.sh
mkdir -p var "$OUT"
: >"$server_log" # one run's log at a time

# Every manage.py call and the service below use the demo's database.
export DATABASE_URL="sqlite:///$repo/$demo_db"

echo "== database $demo_db: migrating"
"$py" manage.py migrate --noinput -v 0

echo "== API key for project 'demo'"
# The command prints the key alone on stdout (its last line) and a reminder on stderr.
key=$("$py" manage.py create_api_key --project demo --name "make demo" 2>>"$server_log" | tail -n 1)

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
url="http://127.0.0.1:$port"

echo "== ingestion service on $url (log: $server_log)"
"$VENV/bin/gunicorn" agentops.wsgi -b "127.0.0.1:$port" -w 2 --access-logfile - >>"$server_log" 2>&1 &
server_pid=$!
# PDF reports (and long exports) are made by the export worker, off the request path.
"$py" manage.py export_worker >>"$server_log" 2>&1 &
worker_pid=$!
stop_server() {
  for pid in "$server_pid" "$worker_pid"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap stop_server EXIT

# /healthz answers 200 once the service is up and reaches its database.
if ! "$py" - "$url/healthz" "$server_pid" <<'EOF'
import os, sys, time, urllib.request

url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the service exited during start-up")
    time.sleep(0.2)
sys.exit("the service did not become healthy within 60 s")
EOF
then
  echo "demo: the service did not start; the end of $server_log:" >&2
  tail -n 30 "$server_log" >&2
  exit 1
fi

echo "== demo agent"
transcript="$OUT/demo-output.txt"
status=0
"$py" "$DEMO_AGENT" --server "$url" --api-key "$key" --out "$OUT" \
  | tee "$transcript" || status=$?

evidence=$(sed -n 's/^evidence class: //p' "$transcript" | tail -n 1)
json_path=$(sed -n 's/^compliance export (JSON): *//p' "$transcript" | tail -n 1)
pdf_path=$(sed -n 's/^compliance report (PDF): *//p' "$transcript" | tail -n 1)
pair=$(sed -n 's/^PDF and JSON pair: *//p' "$transcript" | tail -n 1)

echo
echo "== summary"
echo "  evidence class   ${evidence:-none}"
echo "  JSON export      ${json_path:-none}"
echo "  PDF report       ${pdf_path:-none}"
echo "  PDF and JSON     ${pair:-NOT CHECKED}"
echo "  agent output     $transcript"
echo "  service log      $server_log"
echo
echo "  Browse the demo's sessions in the compliance console (Django admin):"
echo "    DATABASE_URL=sqlite:///$repo/$demo_db make run"
echo "    then open http://127.0.0.1:8000/admin/"
if "$py" manage.py help create_reviewer >/dev/null 2>&1; then
  echo "  Log in as a reviewer; create one with:"
  echo "    DATABASE_URL=sqlite:///$repo/$demo_db $py manage.py create_reviewer USERNAME"
else
  echo "  Log in with an administrator account; create one with:"
  echo "    DATABASE_URL=sqlite:///$repo/$demo_db $py manage.py createsuperuser"
  echo "  (reviewer logins come with manage.py create_reviewer USERNAME once it is available)"
fi
echo

if [ "$status" -ne 0 ] || [ "$evidence" != "AUTHORITATIVE_EVIDENCE" ] || [ -z "$pair" ]; then
  echo "$DEMO_NAME: FAILED (evidence class: ${evidence:-none})" >&2
  exit 1
fi
echo "$DEMO_NAME: AUTHORITATIVE_EVIDENCE"
