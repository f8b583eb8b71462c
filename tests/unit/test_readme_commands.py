"""``.ci/run`` runs the README's set-up and test commands exactly as the README writes them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    two = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", two, flags=re.S)]


def test_ci_runs_both_readme_lines_in_order_setup_first() -> None:
    setup, tests = _readme_commands()
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    assert "pip install -e . " in setup and "[" not in setup, "the set-up line installs no extra"
    assert "privstats demo coverage" in setup
    assert lines.index(setup) < lines.index(tests)


def test_ci_installs_debian_chromium_for_the_browser_tests_before_the_test_line() -> None:
    _, tests = _readme_commands()
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines()]
    guard = lines.index("if [ ! -x /usr/bin/chromium ]; then")  # only when it is missing
    install = next(i for i, line in enumerate(lines) if "apt-get install" in line)
    assert guard < install < lines.index(tests)
    assert lines[install].split("apt-get install", 1)[1].split()[:4] == [
        "-y",
        "-qq",
        "chromium",
        "chromium-driver",
    ]
    commands = [line for line in lines if not line.startswith("#")]
    assert not any("playwright install" in line for line in commands), "no browser downloads"
    # the browser tests launch the binary this guards
    conftest = (ROOT / "tests" / "browser" / "conftest.py").read_text(encoding="utf-8")
    assert '"/usr/bin/chromium"' in conftest
