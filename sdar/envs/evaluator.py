"""Success rates from finished episodes, overall and per task type.

The overall rate is over all episodes, not the mean of the per-type rates (SDAR_SPEC
1.6: ALFWorld's "Avg" column is pooled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        if name not in record:
            raise ValueError(
                f"episode record {record!r} lacks {name!r}; records need task_type and won"
            )
        return record[name]
    if not hasattr(record, name):
        raise ValueError(
            f"episode record {record!r} lacks {name!r}; records need task_type and won"
        )
    return getattr(record, name)


def success_summary(records: Iterable[Mapping[str, Any] | Any]) -> dict[str, Any]:
    """``{"success", "per_task_type": {type: rate}, "episodes", "per_task_type_episodes"}``.

    A record is a mapping or object with ``task_type`` (str) and ``won`` (bool). With no
    records every rate is 0.0 and ``episodes`` is 0.

    >>> s = success_summary([{"task_type": "a", "won": True}, {"task_type": "a", "won": False},
    ...                      {"task_type": "b", "won": True}])
    >>> s["success"], s["per_task_type"], s["episodes"], s["per_task_type_episodes"]
    (0.6666666666666666, {'a': 0.5, 'b': 1.0}, 3, {'a': 2, 'b': 1})
    """
    wins: dict[str, int] = {}
    counts: dict[str, int] = {}
    for record in records:
        task_type = str(_field(record, "task_type"))
        counts[task_type] = counts.get(task_type, 0) + 1
        wins[task_type] = wins.get(task_type, 0) + int(bool(_field(record, "won")))
    episodes = sum(counts.values())
    return {
        "success": sum(wins.values()) / episodes if episodes else 0.0,
        "per_task_type": {t: wins[t] / counts[t] for t in sorted(counts)},
        "episodes": episodes,
        "per_task_type_episodes": {t: counts[t] for t in sorted(counts)},
    }
