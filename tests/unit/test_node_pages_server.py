"""The node pages' setting (``web_port`` in ``[node]``, off by default), their server on
127.0.0.1 in a thread of the node, and a manifest told in plain words."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from privstats.crypto.keys import NodeKeys
from privstats.errors import ParameterError
from privstats.jobs.kinds import get_kind
from privstats.node.config import load_config, parse_config, write_config
from privstats.node.pages import PagesServer, manifest_in_words, policy_in_words
from privstats.service.manifest import DatasetUse, Manifest

NODE = '[node]\nname = "nso"\nhub = "http://127.0.0.1:8700"\n'


def test_pages_are_off_unless_the_config_sets_a_port(tmp_path: Path) -> None:
    assert parse_config(NODE, tmp_path / "node.toml").web_port is None
    assert parse_config(NODE + "web_port = 8470\n", tmp_path / "node.toml").web_port == 8470
    assert parse_config(NODE + "web_port = 0\n", tmp_path / "node.toml").web_port == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("70000", "[node] web_port must be <= 65535, got 70000"),
        ('"8470"', '[node] web_port must be a whole number, got "8470"'),
        ("-1", "[node] web_port must be >= 0, got -1"),
    ],
)
def test_a_bad_web_port_is_named(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_config(NODE + f"web_port = {value}\n", tmp_path / "node.toml", label="node.toml")
    assert str(caught.value) == f"node.toml: {message}"


def test_write_config_writes_the_port_or_a_commented_example(tmp_path: Path) -> None:
    write_config(tmp_path / "a.toml", name="nso", hub="https://h", web_port=8470)
    text = (tmp_path / "a.toml").read_text(encoding="utf-8")
    assert "\nweb_port = 8470 " in text
    assert load_config(tmp_path / "a.toml").web_port == 8470
    write_config(tmp_path / "b.toml", name="nso", hub="https://h")
    text = (tmp_path / "b.toml").read_text(encoding="utf-8")
    assert "\n# web_port = 8470 " in text and "now: off" in text
    assert load_config(tmp_path / "b.toml").web_port is None


def _config(tmp_path: Path) -> Path:
    NodeKeys.generate().save(tmp_path / "keys")
    write_config(tmp_path / "node.toml", name="nso", hub="http://127.0.0.1:9", web_port=0)
    return tmp_path / "node.toml"


def test_the_server_listens_on_loopback_and_its_link_works_once(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    with PagesServer(config, 0) as pages:
        assert pages.port > 0
        assert pages.link.startswith(f"http://127.0.0.1:{pages.port}/signin/")
        with httpx.Client(trust_env=False) as client:
            first = client.get(pages.link)
            assert first.status_code == 303
            assert "privstats_node_session" in client.cookies
            with httpx.Client(trust_env=False) as other:
                assert other.get(pages.link).status_code == 403
        with socket.socket() as probe:  # nothing listens on the machine's other addresses
            probe.settimeout(1)
            own = socket.gethostbyname(socket.gethostname())
            if not own.startswith("127."):
                assert probe.connect_ex((own, pages.port)) != 0
    with socket.socket() as probe:  # stopped with the node
        assert probe.connect_ex(("127.0.0.1", pages.port)) != 0


def test_a_port_in_use_is_told_with_the_setting_to_change(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ParameterError, match=f"cannot listen on 127.0.0.1:{port}.*web_port"):
            PagesServer(config, port)


def test_a_coverage_manifest_in_plain_words() -> None:
    parameters = {"key": "person_id", "source_key": "customer_id", "by": ["region"]}
    kind = get_kind("coverage")
    manifest = Manifest(
        kind="coverage",
        parameters=parameters,
        parties={"register": "nso", "source": "telco"},
        datasets={
            "register": DatasetUse(party="nso", dataset="population", columns=("person_id",)),
            "source": DatasetUse(party="telco", dataset="customers", columns=("customer_id",)),
        },
        recipients=("analyst",),
        disclosure=kind.disclosure(kind.parse(parameters)),
        code_version="1.0.0",
    )
    words = manifest_in_words(manifest, party="nso")
    assert words[0] == f"Computation 'coverage': {kind.title.rstrip('.')}."
    assert (
        "Role 'register': your node brings dataset 'population' and the job reads its "
        "columns 'person_id'." in words
    )
    assert (
        "Role 'source': party 'telco' brings dataset 'customers' and the job reads its "
        "columns 'customer_id'." in words
    )
    assert "The result goes to 'analyst'." in words
    assert any(line.startswith("Disclosure rules: ") and "min_cell" not in line for line in words)
    assert any("smallest group a released cell may show = " in line for line in words)
    assert words[-1] == "Made for privstats 1.0.0."


def test_the_policy_in_plain_words(tmp_path: Path) -> None:
    config = parse_config(
        NODE + '[policy]\napproval = "ask"\nmin_cell = 5\nmax_epsilon = 1.0\n',
        tmp_path / "node.toml",
    )
    assert policy_in_words(config) == [
        'Each job is approved by you (approval = "ask").',
        "Smallest group a release may show: 5.",
        "Budget caps: ε per job = 1.",
        "Results may go to any recipient.",
        "No kind of job is allowed: every job is rejected.",
    ]
