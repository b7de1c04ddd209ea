"""Procedural rooms and tasks for the household world.

`generate(task_type, seed, config)` is a pure function of its arguments: the same
triple gives the same room on every machine (``random.Random`` seeded with a string is
stable across platforms and Python versions). Steps:

1. pick a scene kind (kitchen, livingroom, bedroom, bathroom) that can host the task;
2. pick the target object type and destination receptacle type;
3. choose the receptacle multiset: what the task needs, then random fill up to
   ``config.receptacles``, numbered per type like ALFWorld (``cabinet 3``);
4. place the target object(s) (two for ``pick_two_obj_and_place``), a desklamp where
   needed, and ``config.distractors`` other objects; no object of the target type starts
   in a receptacle of the destination type, so no task starts solved;
5. number objects per type in random order and give each receptacle a ``loc N``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from sdar.envs.household.presets import HouseholdConfig
from sdar.envs.household.vocab import (
    APPLIANCE,
    CAN_CONTAIN,
    GOAL_TEMPLATES,
    LAMP,
    SCENE_OBJECTS,
    SCENES,
    TASK_OBJECTS,
)

_LOOK = "look_at_obj_in_light"
_TWO = "pick_two_obj_and_place"
_LAMP_SCENES = ("bedroom", "livingroom")


@dataclass(frozen=True)
class Goal:
    """What winning means: ``obj`` type (cleaned/heated/cooled as the task says) in a
    ``recep`` type receptacle, or (look tasks, ``recep == ""``) held at a lit ``lamp``."""

    task_type: str
    obj: str
    recep: str
    text: str


@dataclass(frozen=True)
class Layout:
    """The initial state of one generated room.

    ``receptacles`` is in ALFWorld's listing order; ``locations[i]`` is the ``loc N``
    number of ``receptacles[i]``; ``placements`` holds (object, receptacle) pairs in the
    order objects are listed inside a receptacle.
    """

    scene: str
    receptacles: tuple[str, ...]
    locations: tuple[int, ...]
    placements: tuple[tuple[str, str], ...]
    goal: Goal


def type_of(name: str) -> str:
    """``"cabinet 3" -> "cabinet"``."""
    return name.rsplit(" ", 1)[0]


def _scene_capacity(scene: str) -> dict[str, int]:
    return dict(SCENES[scene])


def _start_types(obj: str, scene: str, forbidden: str) -> list[str]:
    capacity = _scene_capacity(scene)
    return [r for r in CAN_CONTAIN[obj] if r in capacity and r != forbidden]


def _task_choices(task_type: str, scene: str) -> list[tuple[str, str]]:
    """Feasible (object type, destination type) pairs for a task type in a scene."""
    capacity = _scene_capacity(scene)
    if task_type == _LOOK:
        if scene not in _LAMP_SCENES:
            return []
        return [(o, "") for o in SCENE_OBJECTS[scene] if o in TASK_OBJECTS[_LOOK]]
    appliance = APPLIANCE.get(task_type)
    if appliance and appliance not in capacity:
        return []
    allowed = TASK_OBJECTS.get(task_type)
    pairs = []
    for obj in SCENE_OBJECTS[scene]:
        if allowed is not None and obj not in allowed:
            continue
        for recep in CAN_CONTAIN[obj]:
            if recep in capacity and recep != appliance and _start_types(obj, scene, recep):
                pairs.append((obj, recep))
    return pairs


def _choose_receptacles(
    rng: random.Random, scene: str, required: list[str], total: int
) -> list[str]:
    capacity = _scene_capacity(scene)
    counts = Counter(dict.fromkeys(required, 1))
    while sum(counts.values()) < total:
        open_types = [r for r, cap in capacity.items() if counts[r] < cap]
        if not open_types:
            break
        pick = rng.choices(open_types, weights=[capacity[r] for r in open_types])[0]
        counts[pick] += 1
    # ALFWorld lists receptacles by type, highest number first: "a cabinet 3, a cabinet 2, ...".
    return [f"{r} {i}" for r in sorted(counts) for i in range(counts[r], 0, -1)]


def _place(rng: random.Random, obj: str, receptacles: list[str], forbidden: str = "") -> str | None:
    spots = [r for r in receptacles if type_of(r) in CAN_CONTAIN[obj] and type_of(r) != forbidden]
    return rng.choice(spots) if spots else None


def _objects(
    rng: random.Random, scene: str, goal: Goal, receptacles: list[str], distractors: int
) -> list[tuple[str, str]]:
    """(object type, receptacle name) pairs, targets first, then lamp and distractors."""
    forbidden = goal.recep
    n_targets = 2 if goal.task_type == _TWO else 1
    placed = []
    for _ in range(n_targets):
        spot = _place(rng, goal.obj, receptacles, forbidden)
        assert spot is not None, "required start receptacle missing"
        placed.append((goal.obj, spot))
    if goal.task_type == _LOOK or scene == "bedroom":
        spot = _place(rng, LAMP, receptacles)
        if spot is not None:
            placed.append((LAMP, spot))
    pool = SCENE_OBJECTS[scene]
    attempts = 0
    while len(placed) < n_targets + distractors and attempts < 20 * (distractors + 1):
        attempts += 1
        obj = rng.choice(pool)
        spot = _place(rng, obj, receptacles, forbidden if obj == goal.obj else "")
        if spot is not None:
            placed.append((obj, spot))
    return placed


def _number_objects(rng: random.Random, placed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    order = list(range(len(placed)))
    rng.shuffle(order)  # the listing order inside a receptacle
    numbers: dict[str, list[int]] = {}
    for obj in sorted({o for o, _ in placed}):
        k = sum(1 for o, _ in placed if o == obj)
        numbers[obj] = rng.sample(range(1, k + 1), k)
    named = [(f"{o} {numbers[o].pop()}", r) for o, r in placed]
    return [named[i] for i in order]


def generate(task_type: str, seed: int, config: HouseholdConfig) -> Layout:
    """Build the room and goal for ``(task_type, seed)`` under ``config``."""
    rng = random.Random(f"household:{task_type}:{seed}")
    scenes = [s for s in SCENES if _task_choices(task_type, s)]
    if not scenes:
        raise ValueError(f"no scene can host task type {task_type!r}")
    scene = rng.choice(scenes)
    obj, recep = rng.choice(_task_choices(task_type, scene))
    template = rng.choice(GOAL_TEMPLATES[task_type])
    goal = Goal(task_type, obj, recep, template.format(o=obj, r=recep, l=LAMP))
    required = [rng.choice(_start_types(obj, scene, recep))]
    if recep:
        required.append(recep)
    if task_type in APPLIANCE:
        required.append(APPLIANCE[task_type])
    if task_type == _LOOK:
        required.append(rng.choice([r for r in CAN_CONTAIN[LAMP] if r in dict(SCENES[scene])]))
    receptacles = _choose_receptacles(rng, scene, required, config.receptacles)
    placed = _objects(rng, scene, goal, receptacles, config.distractors)
    locations = rng.sample(range(1, 2 * len(receptacles) + 10), len(receptacles))
    return Layout(
        scene=scene,
        receptacles=tuple(receptacles),
        locations=tuple(locations),
        placements=tuple(_number_objects(rng, placed)),
        goal=goal,
    )
