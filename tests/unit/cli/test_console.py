"""Messages reach the terminal exactly as written: square brackets are text, not style tags."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from privstats.cli import build_app
from privstats.cli._console import check_output, error, fail_on_error, warn
from privstats.errors import DatasetError, ParameterError


@pytest.mark.parametrize(
    "message",
    [
        "pip install 'privstats[ml]'",
        "node.toml: [datasets.trade] has no 'path'",
        "census[2024].csv: no column 'person_id[x]'",
        "data[/tmp].csv: register file not found",
        "[bold]not bold[/bold] [/]",
    ],
)
def test_error_and_warning_print_brackets_as_text(
    message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error(message)
    warn(message)
    assert capsys.readouterr().err.splitlines() == [f"error: {message}", f"warning: {message}"]


def test_a_failing_command_prints_its_error_with_brackets_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as stop, fail_on_error():
        raise DatasetError("census[2024].csv: no column 'person_id[x]'")
    assert stop.value.exit_code == 2
    assert capsys.readouterr().err == "error: census[2024].csv: no column 'person_id[x]'\n"


def test_run_coverage_names_a_bracketed_missing_file_without_a_traceback(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source.csv"
    source.write_text("id\n1\n")
    result = CliRunner().invoke(
        build_app(["run"]),
        ["run", "coverage", "--register", "data[/tmp].csv", "--source", str(source),
         "--key", "id"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "data[/tmp].csv: register file not found" in result.output
    assert "Traceback" not in result.output


def test_check_output_refuses_a_missing_folder_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"--out .*the folder .*missing does not exist"):
        check_output("--out", tmp_path / "missing" / "s.csv")
    with pytest.raises(ParameterError, match="is a folder"):
        check_output("--out", tmp_path)
    check_output("--out", tmp_path / "s.csv")
    check_output("--out", None)
    assert not (tmp_path / "missing").exists()


def test_help_lists_every_command_without_importing_its_module() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; sys.argv = ['privstats', '--help']\n"
        "from privstats.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('privstats.cli.'))\n"
        "print('LOADED', loaded)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "LOADED []" in done.stdout, done.stdout[-500:] + done.stderr[-500:]
    for name in ("run", "demo", "synth", "hub", "node", "submit", "job", "audit"):
        assert f" {name} " in done.stdout


def test_the_peoples_commands_refuse_plain_http_to_another_machine_unless_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from privstats.cli._hub import INSECURE_ENV, connect

    monkeypatch.delenv(INSECURE_ENV, raising=False)
    with pytest.raises(ParameterError, match=f"use https.*{INSECURE_ENV}=1"):
        connect("http://hub.example.org:8700", "token", None)
    assert connect("http://127.0.0.1:8700", "token", None).http.url == "http://127.0.0.1:8700"
    monkeypatch.setenv(INSECURE_ENV, "1")
    assert connect("http://hub.example.org:8700", "t", None).http.url.endswith(".org:8700")
