"""Runs every benchmark in bench/ (or those named) and prints one table of their figures.

Each benchmark prints its own detailed output and, as its last line, a JSON object of the form
``{"bench": name, "figures": [[label, value, target, met], ...]}``; this script collects those
and prints every figure with its target and whether it is met (``-`` for a figure reported
without a target, for reference). ``run_all.py growth ingest`` runs only those two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    rows: list[list] = []
    failed = []
    wanted = {name.removesuffix(".py") for name in names}
    for script in sorted(HERE.glob("*.py")):
        if script.name.startswith("_") or script.name == "run_all.py":
            continue
        if wanted and script.stem not in wanted:
            continue
        print(f"== {script.name}", flush=True)
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        summary = None
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("{") and '"bench"' in line:
                summary = json.loads(line)
                break
        if proc.returncode != 0 or summary is None:
            failed.append(script.name)
            continue
        for label, value, target, met in summary["figures"]:
            if target is None:
                rows.append([summary["bench"], label, value, "-", "-"])
            else:
                rows.append([summary["bench"], label, value, target, "yes" if met else "NO"])
    print()
    header = ["benchmark", "figure", "measured", "target", "met"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    if failed:
        print("benchmarks that did not report: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
