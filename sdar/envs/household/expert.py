"""A scripted oracle for the household world.

`expert_action(world)` reads the full state and returns the next command of a short
plan to the goal. It is reactive (it re-plans from scratch each call), so it recovers
from any state, e.g. after random actions: it puts away a wrong object in hand,
re-heats an object that was cooled since, switches a lamp back on, and for two-object
tasks keeps filling the destination that already holds the most targets. Cost model for
choices: being there already saves a ``go to``, an open receptacle saves an ``open``;
ties go to the earlier receptacle in the room listing, so plans are deterministic.
"""

from __future__ import annotations

from types import MappingProxyType

from sdar.envs.household.engine import World
from sdar.envs.household.generator import Layout, type_of
from sdar.envs.household.vocab import APPLIANCE, LAMP

_VERB = MappingProxyType(
    {
        "pick_clean_then_place_in_recep": "clean",
        "pick_heat_then_place_in_recep": "heat",
        "pick_cool_then_place_in_recep": "cool",
    }
)


def _cost(world: World, recep: str) -> int:
    return (recep != world.location) + (not world.accessible(recep))


def _step_to(world: World, recep: str) -> str | None:
    """The command that brings the agent to ``recep`` and opens it; None when done."""
    if world.location != recep:
        return f"go to {recep}"
    if not world.accessible(recep):
        return f"open {recep}"
    return None


def _targets_in(world: World, recep: str) -> int:
    return sum(type_of(o) == world.goal.obj for o in world.contents[recep])


def _destination(world: World) -> str:
    goal = world.goal
    order = {r: i for i, r in enumerate(world.receptacles)}
    two = goal.task_type == "pick_two_obj_and_place"
    candidates = [r for r in world.receptacles if type_of(r) == goal.recep]
    return min(
        candidates,
        key=lambda r: (-_targets_in(world, r) if two else 0, _cost(world, r), order[r]),
    )


def _transformed(world: World, obj: str) -> bool:
    verb = _VERB.get(world.goal.task_type)
    bag = {"clean": world.clean, "heat": world.hot, "cool": world.cool}.get(verb or "")
    return bag is None or obj in bag


def _deliver(world: World, obj: str) -> str:
    goal = world.goal
    if not goal.recep:  # look_at_obj_in_light: go to the lamp and switch it on
        lamp = next(o for o in sorted(world.where) if type_of(o) == LAMP)
        recep = world.where[lamp]
        assert recep is not None, "lamps are never carried"
        return f"go to {recep}" if world.location != recep else f"use {lamp}"
    if not _transformed(world, obj):
        appliance = next(r for r in world.receptacles if type_of(r) == APPLIANCE[goal.task_type])
        if world.location != appliance:
            return f"go to {appliance}"
        return f"{_VERB[goal.task_type]} {obj} with {appliance}"
    dest = _destination(world)
    move = _step_to(world, dest)
    if move is not None:
        return move
    if world.command_style == "move":
        return f"move {obj} to {dest}"
    return f"put {obj} in/on {dest}"


def _put_away(world: World, obj: str) -> str:
    order = {r: i for i, r in enumerate(world.receptacles)}
    spots = [r for r in world.receptacles if world.can_put_type(obj, r)]
    spot = min(spots, key=lambda r: (_cost(world, r), order[r]))
    move = _step_to(world, spot)
    if move is not None:
        return move
    return f"move {obj} to {spot}" if world.command_style == "move" else f"put {obj} in/on {spot}"


def _fetch(world: World) -> str:
    goal = world.goal
    order = {r: i for i, r in enumerate(world.receptacles)}
    skip = _destination(world) if goal.task_type == "pick_two_obj_and_place" else None
    found = [
        (o, r)
        for o, r in world.where.items()
        if r is not None and type_of(o) == goal.obj and r != skip
    ]
    obj, recep = min(found, key=lambda pair: (_cost(world, pair[1]), order[pair[1]], pair[0]))
    move = _step_to(world, recep)
    return move if move is not None else f"take {obj} from {recep}"


def expert_action(world: World) -> str | None:
    """The next expert command from the current state; None once the goal holds."""
    if world.goal_reached():
        return None
    held = world.holding
    if held is None:
        return _fetch(world)
    if type_of(held) == world.goal.obj:
        return _deliver(world, held)
    return _put_away(world, held)


def expert_plan(layout: Layout, command_style: str = "put", limit: int = 100) -> list[str]:
    """The expert's full command list from the layout's initial state to the goal."""
    world = World(layout, command_style)
    plan: list[str] = []
    while (action := expert_action(world)) is not None:
        _, executed = world.execute(action)
        assert executed, f"expert produced a failing command {action!r}"
        plan.append(action)
        assert len(plan) <= limit, f"expert did not finish within {limit} steps"
    return plan
