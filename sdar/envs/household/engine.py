"""The household world: state, ALFWorld's command grammar, feedback text and goals.

Semantics follow ALFWorld's PDDL domain (json_2.1.1): the agent stands at one
receptacle (or in the middle of the room at the start) and holds at most one object;
closed receptacles (cabinet, drawer, fridge, microwave, safe) hide their contents and
must be opened before taking or putting; heating, cooling and cleaning need the agent at
a microwave, fridge or sinkbasin holding the object; ``use desklamp 1`` switches a lamp
at the agent's receptacle. Feedback strings are the ones ALFWorld's grammar renders
("You arrive at loc 7. The cabinet 2 is closed."). A command that does not parse or whose
precondition fails answers "Nothing happens." and leaves the state untouched.

Both ``put O in/on R`` (json_2.1.1) and ``move O to R`` (json_2.1.2+) are understood;
``command_style`` only decides which one is listed as admissible.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from sdar.envs.household.generator import Layout, type_of
from sdar.envs.household.vocab import CAN_CONTAIN, CLEANABLE, COOLABLE, HEATABLE, LAMP, OPENABLE

NOTHING = "Nothing happens."
WELCOME = "-= Welcome to TextWorld, ALFRED! =-"

_GRAMMAR = (
    ("goto", re.compile(r"go to (.+)")),
    ("open", re.compile(r"open (.+)")),
    ("close", re.compile(r"close (.+)")),
    ("take", re.compile(r"take (.+?) from (.+)")),
    ("put", re.compile(r"put (.+?) (?:in/on|in|on) (.+)")),
    ("move", re.compile(r"move (.+?) to (.+)")),
    ("heat", re.compile(r"heat (.+?) with (.+)")),
    ("cool", re.compile(r"cool (.+?) with (.+)")),
    ("clean", re.compile(r"clean (.+?) with (.+)")),
    ("use", re.compile(r"use (.+)")),
    ("examine", re.compile(r"examine (.+)")),
    ("look", re.compile(r"look")),
    ("inventory", re.compile(r"inventory")),
)
# Transformation verb -> (receptacle type it needs, object types it applies to).
_TRANSFORMS = MappingProxyType(
    {
        "heat": ("microwave", HEATABLE),
        "cool": ("fridge", COOLABLE),
        "clean": ("sinkbasin", CLEANABLE),
    }
)


def normalize_command(command: str) -> str:
    """Lower-case, strip and collapse whitespace: ``" Go  to Cabinet 1" -> "go to cabinet 1"``."""
    return " ".join(command.lower().split())


def parse_command(command: str) -> tuple[str, tuple[str, ...]] | None:
    """``"take apple 1 from countertop 1" -> ("take", ("apple 1", "countertop 1"))``."""
    for verb, pattern in _GRAMMAR:
        match = pattern.fullmatch(command)
        if match:
            return verb, match.groups()
    return None


def _listing(names: list[str]) -> str:
    """TextWorld's list rendering: "a x", "a x, and a y", "a x, a y, and a z"."""
    if not names:
        return "nothing"
    items = [f"a {n}" for n in names]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


class World:
    """Mutable state of one household episode, built from a `Layout`."""

    def __init__(self, layout: Layout, command_style: str = "put") -> None:
        self.layout = layout
        self.goal = layout.goal
        self.command_style = command_style
        self.receptacles = layout.receptacles
        self.loc = dict(zip(layout.receptacles, layout.locations, strict=True))
        self.contents: dict[str, list[str]] = {r: [] for r in layout.receptacles}
        self.where: dict[str, str | None] = {}
        for obj, recep in layout.placements:
            self.contents[recep].append(obj)
            self.where[obj] = recep
        self.location: str | None = None
        self.holding: str | None = None
        self.opened: set[str] = set()
        self.clean: set[str] = set()
        self.hot: set[str] = set()
        self.cool: set[str] = set()
        self.lit: set[str] = set()

    # ----- rendering -------------------------------------------------------------
    def intro(self) -> str:
        """The reset observation: welcome banner, room overview and the task sentence."""
        return f"{WELCOME}\n\n{self.look_text()}\n\nYour task is to: {self.goal.text}"

    def look_text(self) -> str:
        if self.location is None:
            return (
                "You are in the middle of a room. Looking quickly around you, you see "
                f"{_listing(list(self.receptacles))}."
            )
        return f"You are facing the {self.location}. Next to it, you see nothing."

    def describe(self, recep: str) -> str:
        if type_of(recep) in OPENABLE:
            if recep not in self.opened:
                return f"The {recep} is closed."
            return f"The {recep} is open. In it, you see {_listing(self.contents[recep])}."
        return f"On the {recep}, you see {_listing(self.contents[recep])}."

    def examine_object(self, obj: str) -> str:
        if type_of(obj) == LAMP:
            return f"This {obj} is {'on' if obj in self.lit else 'off'}."
        state = [word for word, bag in (("hot", self.hot), ("cool", self.cool)) if obj in bag]
        if obj in self.clean:
            return f"This is a {' and '.join([*state, 'clean'])} {obj}."
        if state:
            return f"This is a {'hot' if state == ['hot'] else 'cold'} {obj}."
        return f"There's nothing special about {obj}."

    # ----- preconditions ---------------------------------------------------------
    def accessible(self, recep: str) -> bool:
        return type_of(recep) not in OPENABLE or recep in self.opened

    def visible(self, obj: str) -> bool:
        """The object is held, or lies in the open receptacle the agent is at."""
        if obj == self.holding:
            return True
        here = self.location
        return here is not None and self.where.get(obj) == here and self.accessible(here)

    def can_put_type(self, obj: str, recep: str) -> bool:
        """The receptacle's type may hold the object's type (ALFRED's canContain)."""
        return type_of(recep) in CAN_CONTAIN[type_of(obj)]

    def can_put(self, obj: str, recep: str) -> bool:
        return (
            self.holding == obj
            and self.location == recep
            and self.accessible(recep)
            and self.can_put_type(obj, recep)
        )

    def can_take(self, obj: str, recep: str) -> bool:
        return (
            self.holding is None
            and self.location == recep
            and self.where.get(obj) == recep
            and self.accessible(recep)
            and type_of(obj) != LAMP
        )

    def can_transform(self, verb: str, obj: str, recep: str) -> bool:
        appliance, objects = _TRANSFORMS[verb]
        return (
            self.holding == obj
            and self.location == recep
            and type_of(recep) == appliance
            and type_of(obj) in objects
        )

    # ----- commands --------------------------------------------------------------
    def execute(self, command: str) -> tuple[str, bool]:
        """Run one command; returns (feedback, executed). Failure changes nothing."""
        parsed = parse_command(normalize_command(command))
        if parsed is None:
            return NOTHING, False
        verb, args = parsed
        feedback = self._apply(verb, args)
        return (NOTHING, False) if feedback is None else (feedback, True)

    def _apply(self, verb: str, args: tuple[str, ...]) -> str | None:
        here = self.location
        if verb == "goto":
            (recep,) = args
            if recep not in self.loc or recep == here:
                return None
            self.location = recep
            return f"You arrive at loc {self.loc[recep]}. {self.describe(recep)}"
        if verb in ("open", "close"):
            (recep,) = args
            if recep != here or type_of(recep) not in OPENABLE:
                return None
            if verb == "open" and recep not in self.opened:
                self.opened.add(recep)
                return f"You open the {recep}. {self.describe(recep)}"
            if verb == "close" and recep in self.opened:
                self.opened.discard(recep)
                return f"You close the {recep}."
            return None
        if verb == "take":
            obj, recep = args
            if not self.can_take(obj, recep):
                return None
            self.contents[recep].remove(obj)
            self.where[obj] = None
            self.holding = obj
            return f"You pick up the {obj} from the {recep}."
        if verb in ("put", "move"):
            obj, recep = args
            if not self.can_put(obj, recep):
                return None
            self.contents[recep].append(obj)
            self.where[obj] = recep
            self.holding = None
            if verb == "move":
                return f"You move the {obj} to the {recep}."
            return f"You put the {obj} in/on the {recep}."
        if verb in _TRANSFORMS:
            return self._transform(verb, *args)
        return self._inspect(verb, args)

    def _transform(self, verb: str, obj: str, recep: str) -> str | None:
        if not self.can_transform(verb, obj, recep):
            return None
        if verb == "heat":
            self.hot.add(obj)
            self.cool.discard(obj)
        elif verb == "cool":
            self.cool.add(obj)
            self.hot.discard(obj)
        else:
            self.clean.add(obj)
        return f"You {verb} the {obj} using the {recep}."

    def _inspect(self, verb: str, args: tuple[str, ...]) -> str | None:
        if verb == "look":
            return self.look_text()
        if verb == "inventory":
            if self.holding is None:
                return "You are not carrying anything."
            return f"You are carrying: a {self.holding}."
        (name,) = args
        if verb == "use":
            if (
                type_of(name) != LAMP
                or self.location is None
                or self.where.get(name) != self.location
            ):
                return None
            if name in self.lit:
                self.lit.discard(name)
                return f"You turn off the {name}."
            self.lit.add(name)
            return f"You turn on the {name}."
        # examine
        if name == self.location:
            return self.describe(name)
        if name in self.where and self.visible(name):
            return self.examine_object(name)
        return None

    # ----- derived views ---------------------------------------------------------
    def admissible(self) -> list[str]:
        """Every command whose precondition holds now, sorted (ALFWorld's list, no help)."""
        here = self.location
        cmds = ["look", "inventory"]
        cmds += [f"go to {r}" for r in self.receptacles if r != here]
        held = self.holding
        if held is not None:
            cmds.append(f"examine {held}")
        if here is not None:
            cmds.append(f"examine {here}")
            if type_of(here) in OPENABLE:
                cmds.append(f"{'close' if here in self.opened else 'open'} {here}")
            if self.accessible(here):
                for obj in self.contents[here]:
                    cmds.append(f"examine {obj}")
                    if self.can_take(obj, here):
                        cmds.append(f"take {obj} from {here}")
            cmds += [f"use {o}" for o in self.contents[here] if type_of(o) == LAMP]
            if held is not None and self.can_put(held, here):
                style = "move {o} to {r}" if self.command_style == "move" else "put {o} in/on {r}"
                cmds.append(style.format(o=held, r=here))
            for verb in _TRANSFORMS:
                if held is not None and self.can_transform(verb, held, here):
                    cmds.append(f"{verb} {held} with {here}")
        return sorted(set(cmds))

    def goal_reached(self) -> bool:
        goal = self.goal
        if not goal.recep:  # look_at_obj_in_light: hold the object next to a lit lamp
            held = self.holding
            return (
                held is not None
                and type_of(held) == goal.obj
                and any(type_of(o) == LAMP and o in self.lit for o in self.contents_here())
            )
        bag = {
            "pick_clean_then_place_in_recep": self.clean,
            "pick_heat_then_place_in_recep": self.hot,
            "pick_cool_then_place_in_recep": self.cool,
        }.get(goal.task_type)
        need = 2 if goal.task_type == "pick_two_obj_and_place" else 1
        for recep in self.receptacles:
            if type_of(recep) != goal.recep:
                continue
            hits = [
                o
                for o in self.contents[recep]
                if type_of(o) == goal.obj and (bag is None or o in bag)
            ]
            if len(hits) >= need:
                return True
        return False

    def contents_here(self) -> list[str]:
        return [] if self.location is None else self.contents[self.location]

    def snapshot(self) -> tuple:
        """A comparable copy of the full mutable state (for tests and no-op checks)."""
        return (
            self.location,
            self.holding,
            tuple(sorted(self.opened)),
            tuple((r, tuple(self.contents[r])) for r in self.receptacles),
            tuple(sorted(self.clean)),
            tuple(sorted(self.hot)),
            tuple(sorted(self.cool)),
            tuple(sorted(self.lit)),
        )
