"""Plain http:// to a hub on another machine is refused unless the user says --insecure.

Tokens, signed requests and results would cross the network unencrypted; loopback stays
allowed (local federations, tests, a TLS proxy on the same machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from privstats.cli import node as node_cli
from privstats.crypto.keys import NodeKeys
from privstats.errors import ParameterError
from privstats.node.agent import NodeAgent
from privstats.node.config import load_config, write_config
from privstats.service.http import HubHttp, allow_plain_http, bearer, check_hub_url

REMOTE = ["http://10.0.0.5:8700", "http://hub.example.org", "http://127.0.0.1.example.org"]
LOCAL = [
    "http://127.0.0.1:8700",
    "http://127.8.9.1",
    "http://localhost:8700/",
    "http://[::1]:8700",
    "https://hub.example.org",
    "https://10.0.0.5:8443",
]


@pytest.mark.parametrize("url", REMOTE)
def test_the_http_client_refuses_plain_http_to_another_machine(url: str) -> None:
    with pytest.raises(ParameterError, match=r"plain http:// to another machine.*use https://"):
        HubHttp(url, bearer("t"))
    HubHttp(url, bearer("t"), insecure=True).close()
    with allow_plain_http():
        HubHttp(url, bearer("t")).close()
    with pytest.raises(ParameterError):  # the permission ends with the block
        HubHttp(url, bearer("t"))


@pytest.mark.parametrize("url", LOCAL)
def test_loopback_and_https_urls_are_accepted(url: str) -> None:
    assert check_hub_url(url) == url
    HubHttp(url, bearer("t")).close()


@pytest.mark.parametrize("url", ["ftp://hub", "hub.example.org:8700", "https://"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ParameterError, match="is not an https:// URL"):
        check_hub_url(url, insecure=True)


def _config(tmp_path: Path, node: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text("[node]\n" + node, encoding="utf-8")
    return path


def test_node_toml_refuses_plain_http_to_another_machine(tmp_path: Path) -> None:
    path = _config(tmp_path, 'name = "nso"\nhub = "http://10.0.0.5:8700"\n')
    with pytest.raises(ParameterError) as info:
        load_config(path)
    message = str(info.value)
    assert '[node] hub is plain http:// to another machine (10.0.0.5), got "http://10.0.0.5' in (
        message
    )
    assert "use https://" in message
    assert "add insecure = true to [node]" in message


def test_node_toml_allows_it_with_insecure_true(tmp_path: Path) -> None:
    path = _config(tmp_path, 'name = "nso"\ninsecure = true\nhub = "http://10.0.0.5:8700"\n')
    config = load_config(path)
    assert (config.hub, config.insecure) == ("http://10.0.0.5:8700", True)
    with pytest.raises(ParameterError, match="insecure must be true or false"):
        load_config(_config(tmp_path, 'name = "nso"\ninsecure = "yes"\nhub = "https://h"\n'))


def test_write_config_keeps_insecure(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    write_config(path, name="nso", hub="http://10.0.0.5:8700", insecure=True)
    assert "insecure = true" in path.read_text(encoding="utf-8")
    assert load_config(path).insecure
    with pytest.raises(ParameterError, match="plain http://"):
        write_config(tmp_path / "other.toml", name="nso", hub="http://10.0.0.5:8700")


def test_node_init_refuses_plain_http_before_making_keys(tmp_path: Path) -> None:
    folder = tmp_path / "node"
    args = ["init", str(folder), "--name", "nso", "--hub", "http://10.0.0.5:8700"]
    result = CliRunner().invoke(node_cli.app, [*args, "--enrolment-token", "t"])
    assert result.exit_code == 2
    assert "plain http:// to another machine" in result.output
    assert "--insecure" in result.output
    assert not (folder / "keys").exists()


def test_node_init_with_insecure_enrols_and_says_so_in_node_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def enrol(url: str, _name: str, _token: str, _keys: NodeKeys) -> str:
        HubHttp(url, bearer("")).close()  # the client enrol builds: allowed here
        return "now"

    monkeypatch.setattr(node_cli, "enrol", enrol)
    folder = tmp_path / "node"
    args = ["init", str(folder), "--name", "nso", "--hub", "http://10.0.0.5:8700", "--insecure"]
    result = CliRunner().invoke(node_cli.app, [*args, "--enrolment-token", "t"])
    assert result.exit_code == 0, result.output
    config = load_config(folder / "node.toml")
    assert config.insecure
    agent = NodeAgent(config)  # builds its hub client for the same URL
    assert agent.hub.http.url == "http://10.0.0.5:8700"
    agent.close()


def _fake_enrol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_cli, "enrol", lambda *_args: "now")


def test_node_init_offers_a_dataset_for_aggregates_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_enrol(monkeypatch)
    folder = tmp_path / "node"
    args = ["init", str(folder), "--name", "nso", "--hub", "https://hub.example.org"]
    args += ["--dataset", "trade=trade.csv", "--allow", "aggregate", "--enrolment-token", "t"]
    result = CliRunner().invoke(node_cli.app, args)
    assert result.exit_code == 0, result.output
    config = load_config(folder / "node.toml")
    assert config.datasets["trade"].key_columns == ()
    assert [rule.kind for rule in config.policy.allow] == ["aggregate"]


def test_node_init_asks_for_a_key_where_coverage_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_enrol(monkeypatch)
    folder = tmp_path / "node"
    args = ["init", str(folder), "--name", "nso", "--hub", "https://hub.example.org"]
    result = CliRunner().invoke(
        node_cli.app, [*args, "--dataset", "pop=p.csv", "--enrolment-token", "t"]
    )
    assert result.exit_code == 2
    assert "--allow coverage matches records by key" in result.output
    assert "--key" in result.output
    assert not (folder / "keys").exists()
