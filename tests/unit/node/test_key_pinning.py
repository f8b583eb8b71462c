"""A node pins its peers' keys on first sight and refuses a hub that swaps them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from privstats.crypto.keys import NodeKeys
from privstats.errors import CryptoError, ServiceError
from privstats.node.agent import NodeAgent
from privstats.service.manifest import DatasetUse, Manifest

MANIFEST = Manifest(
    kind="coverage",
    parameters={"key": "person_id"},
    parties={"register": "nso", "source": "telco"},
    datasets={
        "register": DatasetUse(party="nso", dataset="population", columns=("person_id",)),
        "source": DatasetUse(party="telco", dataset="customers", columns=("person_id",)),
    },
    recipients=("analyst",),
    disclosure={"min_domain": 10},
    code_version="0.1.0",
)


def _node(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(keys=tmp_path, name="nso"))


def test_first_keys_are_pinned_and_kept(tmp_path: Path) -> None:
    telco = NodeKeys.generate().public
    listed = {"telco": telco, "nso": NodeKeys.generate().public}
    assert NodeAgent._pinned(_node(tmp_path), listed, MANIFEST) == listed  # type: ignore[arg-type]
    pinned = json.loads((tmp_path / "known_parties.json").read_text())
    assert pinned == {"telco": telco.as_hex()}
    assert NodeAgent._pinned(_node(tmp_path), listed, MANIFEST) == listed  # type: ignore[arg-type]


def test_a_swapped_key_is_refused(tmp_path: Path) -> None:
    NodeAgent._pinned(_node(tmp_path), {"telco": NodeKeys.generate().public}, MANIFEST)  # type: ignore[arg-type]
    swapped = {"telco": NodeKeys.generate().public}
    with pytest.raises(CryptoError, match="other keys for party 'telco'"):
        NodeAgent._pinned(_node(tmp_path), swapped, MANIFEST)  # type: ignore[arg-type]


def test_a_peer_that_is_not_enrolled_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="'telco'"):
        NodeAgent._pinned(_node(tmp_path), {}, MANIFEST)  # type: ignore[arg-type]
