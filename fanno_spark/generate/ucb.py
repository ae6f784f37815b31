"""Driver-side UCB bandit that picks few-shot examples for augmentation (FANNO, bugs fixed).

value(arm) = reward + c * sqrt(2 ln T / (count + 1)) with FANNO's T = pool size + few-shot picks so far
(src/utils/ucb_utils.py: total_attempts starts at sum(cnt) + len(seeds) and grows by one per pick);
per document, k examples are drawn at random from the top `top_fraction` of arms (at least k, where
FANNO's int(0.05 * n) < k fails). Unlike FANNO's code, rewards are updated from the data each round
produces, and any pool size >= 1 works.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field


@dataclass
class Arm:
    text: str
    reward: float = 0.0
    count: int = 0  # times chosen as a few-shot example
    observations: int = 0  # rewards averaged into `reward`


@dataclass
class UCBBandit:
    c: float = 3.0
    top_fraction: float = 0.05
    k: int = 3
    seed: int = 42
    t: int = 0
    arms: dict[str, Arm] = field(default_factory=dict)

    def add(self, arm_id: str, text: str, reward: float = 0.0) -> None:
        if arm_id not in self.arms:
            self.arms[arm_id] = Arm(text=text, reward=float(reward), observations=1)

    def total(self) -> int:
        """FANNO's T: arms in the pool plus every few-shot pick made so far."""
        return len(self.arms) + sum(a.count for a in self.arms.values())

    def value(self, arm: Arm, total: int | None = None) -> float:
        total = max(total if total is not None else self.total(), 1)
        return arm.reward + self.c * math.sqrt(2.0 * math.log(total) / (arm.count + 1))

    def choose(self, doc_ids: list[str], round_no: int = 0) -> dict[str, list[str]]:
        """Pick few-shot arm ids per document; each pick counts, so exploration spreads choices."""
        if not self.arms:
            raise ValueError("UCB has no arms: the seed pool is empty")
        rng = random.Random(f"{self.seed}:{round_no}")
        picks: dict[str, list[str]] = {}
        total = self.total()
        for doc_id in sorted(doc_ids):
            ranked = sorted(self.arms, key=lambda a: (-self.value(self.arms[a], total), a))
            k = min(self.k, len(ranked))
            top = ranked[:max(k, math.ceil(self.top_fraction * len(ranked)))]
            chosen = rng.sample(top, k)
            for arm_id in chosen:
                self.arms[arm_id].count += 1
                total += 1  # FANNO: one attempt per pick
            self.t += 1  # documents served
            picks[doc_id] = chosen
        return picks

    def update(self, arm_id: str, reward: float) -> None:
        """Fold a new reward into the arm's running mean (FANNO never updated it)."""
        arm = self.arms[arm_id]
        arm.reward = (arm.reward * arm.observations + reward) / (arm.observations + 1)
        arm.observations += 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UCBBandit:
        data = json.loads(text)
        arms = {k: Arm(**v) for k, v in data.pop("arms").items()}
        return cls(arms=arms, **data)


def minmax(values: list[float]) -> list[float]:
    """FANNO's reward: min-max normalised response length (all equal -> all 1.0)."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi == lo:
        return [1.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]
