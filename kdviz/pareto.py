"""The Pareto front: the models no other model beats in both cost and accuracy, and the costs it is drawn for
(introduced in 05)."""
from __future__ import annotations

from collections.abc import Sequence

COSTS = {"bytes": "size (bytes)", "ms @ batch 1": "ms per image at batch 1", "ms @ batch 256": "ms per batch of 256"}
FAMILIES = ("teacher", "architecture", "pruned", "quantized", "distilled", "scratch", "combined", "baseline")


def pareto_front(rows: Sequence[dict], cost: str = "bytes", value: str = "accuracy") -> list[str]:
    """Names of the rows no other row beats: none is at most as costly *and* at least as good, and better in one.

    Among rows equal in both, the first is kept. Sorted by ``cost``, cheapest first.
    """
    for row in rows:
        if cost not in row or value not in row or "name" not in row:
            raise ValueError(f"every row must have 'name', {cost!r} and {value!r}; got keys {sorted(row)}")
    ranked = sorted(rows, key=lambda row: (row[cost], -row[value]))
    front, best = [], float("-inf")
    for row in ranked:
        if row[value] > best:
            front.append(row["name"])
            best = row[value]
    return front
