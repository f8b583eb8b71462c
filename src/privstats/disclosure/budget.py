"""A privacy budget: the (ε, δ) a release spends under differential privacy.

One type for every kind that spends budget (synthetic data by MST, federated training with
DP-SGD, noisy tables), so that a node's policy can cap it and a ledger can add it up.
Composition here is basic sequential composition (ε and δ add); tighter accounting (zCDP,
RDP) happens inside a mechanism and is reported as the (ε, δ) it guarantees.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Budget"]


class Budget(BaseModel):
    """(ε, δ)-differential privacy: ε > 0, 0 ≤ δ < 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epsilon: float = Field(gt=0, description="ε of (ε, δ)-differential privacy.")
    delta: float = Field(0.0, ge=0, lt=1, description="δ of (ε, δ)-differential privacy.")

    def __add__(self, other: Budget) -> Budget:
        """Both releases together, by basic sequential composition."""
        return Budget(
            epsilon=self.epsilon + other.epsilon, delta=min(self.delta + other.delta, 0.999999)
        )

    def within(self, cap: Budget) -> bool:
        """Whether this spend fits under ``cap`` (both ε and δ)."""
        return self.epsilon <= cap.epsilon and self.delta <= cap.delta

    def __str__(self) -> str:
        return f"ε = {self.epsilon:g}" + (f", δ = {self.delta:g}" if self.delta else "")
