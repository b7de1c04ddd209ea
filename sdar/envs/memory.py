"""Windowed episode memory: the (observation, action) pairs a step prompt shows.

One `HistoryMemory` per running environment. After each step the rollout records the
observation the agent acted on and the **parsed** action it sent (not the reasoning,
SDAR_SPEC 1.2); the next prompt shows ``window(history_length)``.
"""

from __future__ import annotations


class HistoryMemory:
    """Append-only list of (observation, action) pairs for one episode."""

    def __init__(self) -> None:
        self._pairs: list[tuple[str, str]] = []

    def reset(self) -> None:
        """Forget everything (call at episode start)."""
        self._pairs.clear()

    def add(self, observation: str, action: str) -> None:
        """Record the observation the agent saw and the action it then took."""
        self._pairs.append((observation, action))

    def window(self, k: int) -> list[tuple[str, str]]:
        """The last ``k`` pairs, oldest first (fewer early in the episode; [] for k=0).

        >>> m = HistoryMemory()
        >>> for i in range(3):
        ...     m.add(f"o{i}", f"a{i}")
        >>> m.window(2)
        [('o1', 'a1'), ('o2', 'a2')]
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"history window must be an integer >= 0, got {k!r}")
        return self._pairs[max(0, len(self._pairs) - k) :] if k else []

    def __len__(self) -> int:
        return len(self._pairs)
