"""Differential privacy for coverage: noise added inside the protocol, one share per party.

With ``--dp-epsilon`` every released count carries discrete Gaussian noise (OpenDP's exact
sampler, :mod:`privstats.disclosure.dp`), and no party — not the register, not the source,
not the hub or the analyst — sees a noiseless count of the other's data:

* **Register sizes** ``n_g``: the register pads domain g with ``j_g`` random identifiers
  (``j_g`` = offset + a truncated discrete Gaussian, so 0 ≤ j_g ≤ 2·offset) before the
  PSI, so the source sees ``n_g + j_g``; the release is ``n_g + j_g − offset``.
* **Source size** ``|S|``: the source pads its set the same way; the register learns
  ``|S| + j_S``, released as ``|S| + j_S − offset``.
* **Matched** ``m_g``: the source adds ``k_g`` dummy matches to group g inside the PSI
  (truncated share as above; :mod:`privstats.protocols.psi`), so the register learns only
  ``m_g + k_g``; the register adds its own share ``η_g`` (untruncated) and releases
  ``m_g + k_g − offset + η_g``. The source, who knows ``k_g``, sees ``m_g + η_g``.

Calibration (:func:`privstats.disclosure.dp_release.plan_release`, OpenDP's accounting;
unit ``record`` or ``person:KEY``, the same here, as each list holds an identifier once).
One person changes at most three counts by one: her domain's size, its matched count and
the source size — three count measurements, each given a third of ρ, ρ the largest whose
OpenDP zCDP→(ε, δ/2) conversion is at most ε. Truncating a share to ``[−offset, offset]``
costs at most ``P(|Z| > offset) ≤ δ/6`` per count she changes, so each view is
(ε, δ)-DP. **Collusion bound:** each count's protection rests on one share
held by a party other than the one viewing it: the register's view is protected by the
source's shares, the source's view by the register's, the analyst's by both (matched
counts then carry variance 2σ²). A party colluding with the analyst learns nothing the
party did not already see; the register and the source together know every count.

Not protected: which domains exist (the list of ``--by`` categories comes from the
register's data); the budget is spent per job — the node's ledger adds it up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from privstats.disclosure.dp import discrete_gaussian
from privstats.disclosure.dp_noise import total_error_95
from privstats.disclosure.dp_release import DpPlan, DpTerms, count_query, plan_release
from privstats.disclosure.tables import TOTAL
from privstats.errors import ParameterError
from privstats.jobs.coverage_figures import CoverageFigures, release
from privstats.jobs.coverage_release import Label, all_released

__all__ = [
    "NoisePlan",
    "check_terms",
    "plan",
    "privacy",
    "register_release",
    "source_matches",
    "truncated_shares",
]


class DpSpec(CoverageFigures, Protocol):
    """The spec fields DP reads."""

    @property
    def key(self) -> str: ...
    @property
    def peer_key(self) -> str | None: ...
    @property
    def dp(self) -> DpTerms | None: ...


MEASUREMENTS = ("register_size", "matched", "source_size")


@dataclass(frozen=True)
class NoisePlan:
    """The noise both parties agree on from the spec: the OpenDP plan of the three counts
    (σ per share) and the truncation of the shares put into the protocol."""

    terms: DpTerms
    release: DpPlan
    offset: int

    @property
    def sigma(self) -> float:
        """The scale of every share (the three counts have equal sensitivity and budget)."""
        return max(self.release[name].party_sigma for name in MEASUREMENTS)

    @property
    def pad(self) -> int:
        """The most a truncated share adds (its values lie in 0..pad)."""
        return 2 * self.offset


def check_terms(terms: DpTerms, key: str, peer_key: str | None) -> None:
    """What coverage can honour: a unit of one identifier, no bounds, each party's share
    protecting the other (collusion bound 1)."""
    person = terms.person_column
    if person is not None and person not in (key, peer_key):
        raise ParameterError(
            f"coverage protects persons by their identifier: use --dp-unit record or "
            f"person:{key}, not person:{person}",
            parameter="dp.unit",
        )
    if terms.bounds:
        raise ParameterError(
            "coverage releases counts only: --dp-bounds does not apply", parameter="dp.bounds"
        )
    if terms.collusion not in (None, 1):
        raise ParameterError(
            "coverage has two parties, each protected by the other's noise: the collusion "
            "bound is 1",
            parameter="dp.collusion",
        )


def plan(spec: DpSpec) -> NoisePlan | None:
    """The noise of a DP coverage job (None without ``dp``); the same on both sides, as it
    depends on the spec alone."""
    terms = spec.dp
    if terms is None:
        return None
    check_terms(terms, spec.key, spec.peer_key)
    gaussian = terms.model_copy(update={"delta": terms.delta / 2})
    queries = [count_query(1, name) for name in MEASUREMENTS]
    release = plan_release(gaussian, queries, parties=2, contributions=1)
    sigma = max(release[name].party_sigma for name in MEASUREMENTS)
    tail = terms.delta / (2 * len(MEASUREMENTS))  # δ/6 per changed count
    # the discrete Gaussian is σ-subgaussian (Canonne, Kamath & Steinke 2020, Cor. 9):
    # P(|Z| > x) ≤ 2·exp(−x²/2σ²)
    offset = math.ceil(sigma * math.sqrt(2 * math.log(2 / tail)))
    return NoisePlan(terms, release, offset)


def truncated_shares(noise: NoisePlan, count: int) -> list[int]:
    """``count`` shares ``offset + Z``, Z discrete Gaussian(σ) conditioned on
    ``|Z| ≤ offset`` (rejection: OpenDP draws again the few outside)."""
    out = np.zeros(count, dtype=np.int64)
    todo = np.arange(count)
    while todo.size:
        draws, _ = discrete_gaussian(np.zeros(todo.size, dtype=np.int64), noise.sigma)
        inside = np.abs(draws) <= noise.offset
        out[todo[inside]] = draws[inside] + noise.offset
        todo = todo[~inside]
    return [int(v) for v in out]


def source_matches(noise: NoisePlan) -> Callable[[int], list[int]]:
    """The source's dummy matches: one truncated share per group of the receiver."""
    return lambda groups: truncated_shares(noise, groups)


def _noise_fields(noise: NoisePlan, leaves: int) -> dict[str, Any]:
    """Noise sd and 95 % error bound of a cell summing ``leaves`` domains: sizes carry one
    share per domain, matched counts two (one per party)."""
    shares = {"register_size": leaves, "matched": 2 * leaves}
    return {
        "noise_sd": {k: noise.sigma * math.sqrt(n) for k, n in shares.items()},
        "error_95": {k: total_error_95(noise.sigma, n) for k, n in shares.items()},
    }


def privacy(noise: NoisePlan) -> dict[str, Any]:
    """The release's ``privacy`` block: OpenDP's plan of the Gaussian part (at δ/2), with
    the asked δ (the other half covers the truncation of the shares)."""
    return noise.release.privacy_block() | {
        "delta": noise.terms.delta,
        "delta_gaussian": noise.release.delta,
        "mechanism": "discrete Gaussian, one share per party inside the PSI (dummy matches)",
        "truncation": noise.offset,
        "collusion": 1,
        "collusion_bound": "each party's view is protected by the other party's shares",
    }


def register_release(
    spec: DpSpec,
    noise: NoisePlan,
    sizes: Mapping[Label, int],
    padding: Sequence[int],
    matched: Mapping[Label, int],
    source_size: int,
) -> dict[str, Any]:
    """The DP release: ``padding`` is the register's size shares, ``matched`` the PSI's
    ``m_g + k_g``, ``source_size`` the source's padded size."""
    labels = list(sizes)
    noisy_sizes = {
        label: sizes[label] + pad - noise.offset for label, pad in zip(labels, padding, strict=True)
    }
    own, _ = discrete_gaussian(np.zeros(len(labels), dtype=np.int64), noise.sigma)
    noisy_matched = {
        label: matched[label] - noise.offset + int(eta)
        for label, eta in zip(labels, own, strict=True)
    }
    decisions = all_released(labels, spec.by)
    extra = {key: _noise_fields(noise, _leaves(key, labels)) for key in decisions.cells}
    result = release(
        spec,
        None,
        decisions,
        noisy_sizes,
        noisy_matched,
        source_size - noise.offset,
        cell_extra=extra,
    )
    overall: Label = (TOTAL,) * len(spec.by)
    result |= extra[overall]
    result["source_size_noise_sd"] = noise.sigma
    result["privacy"] = privacy(noise)
    return result


def _leaves(key: Label, labels: Sequence[Label]) -> int:
    return sum(
        all(k in (TOTAL, lab) for k, lab in zip(key, label, strict=True)) for label in labels
    )
