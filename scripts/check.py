"""Run every check the project asks of a change: lint, format, types, the whole test suite.

This is the README's test command and what ``.ci/run`` calls; it stops at the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = [
    ("ruff lint", ["ruff", "check", "src", "tests", "benchmarks", "scripts"]),
    ("ruff format", ["ruff", "format", "--check", "src", "tests", "benchmarks", "scripts"]),
    ("mypy (strict, src)", ["mypy"]),
    ("pytest", ["pytest", "-q", "-p", "no:cacheprovider"]),
]


def main() -> int:
    bindir = Path(sys.executable).parent
    for name, command in STEPS:
        print(f"== {name}: {' '.join(command)}", flush=True)
        started = time.monotonic()
        tool = bindir / command[0]
        argv = [str(tool) if tool.exists() else command[0], *command[1:]]
        code = subprocess.call(argv, cwd=ROOT)
        status = "ok" if code == 0 else f"FAILED ({code})"
        print(f"== {name}: {status} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
