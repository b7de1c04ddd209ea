"""The fixed, finite vocabulary of the household world (ALFWorld's names, lower case).

Every receptacle and object type the generator can ever emit is listed here, so a
word-level tokenizer can be built from `all_words()` without sampling worlds. The
tables follow ALFWorld/ALFRED: receptacle and object type names, which receptacles
open and close, which objects can be cleaned (in a sinkbasin), heated (with a
microwave), cooled (with a fridge) or switched on (a desklamp), and the goal
sentences of the six task types, written as in the json_2.1.1 game files.
"""

from __future__ import annotations

from types import MappingProxyType

from sdar.envs.base import ALFRED_TASK_TYPES

TASK_TYPES = ALFRED_TASK_TYPES

# Two phrasings per task type, as in ALFWorld's games ({o}: object type, {r}: receptacle
# type, {l}: lamp type).
GOAL_TEMPLATES = MappingProxyType(
    {
        "pick_and_place_simple": ("put a {o} in {r}.", "put some {o} on {r}."),
        "look_at_obj_in_light": ("look at {o} under the {l}.", "examine the {o} with the {l}."),
        "pick_clean_then_place_in_recep": (
            "put a clean {o} in {r}.",
            "clean some {o} and put it in {r}.",
        ),
        "pick_heat_then_place_in_recep": (
            "put a hot {o} in {r}.",
            "heat some {o} and put it in {r}.",
        ),
        "pick_cool_then_place_in_recep": (
            "put a cool {o} in {r}.",
            "cool some {o} and put it in {r}.",
        ),
        "pick_two_obj_and_place": (
            "put two {o} in {r}.",
            "find two {o} and put them in {r}.",
        ),
    }
)

# The receptacle type a task's transformation needs ("clean O with sinkbasin 1", ...).
APPLIANCE = MappingProxyType(
    {
        "pick_clean_then_place_in_recep": "sinkbasin",
        "pick_heat_then_place_in_recep": "microwave",
        "pick_cool_then_place_in_recep": "fridge",
    }
)

OPENABLE = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})
LAMP = "desklamp"

# Scene kind -> (receptacle type, most instances). The generator always adds the
# receptacles a task needs, then fills up to the requested count, drawing types with
# probability proportional to their maximum (so cabinets and drawers dominate, as in
# ALFWorld's rooms).
SCENES = MappingProxyType(
    {
        "kitchen": (
            ("cabinet", 12), ("coffeemachine", 1), ("countertop", 3), ("diningtable", 1),
            ("drawer", 8), ("fridge", 1), ("garbagecan", 1), ("microwave", 1),
            ("shelf", 3), ("sinkbasin", 1), ("stoveburner", 4), ("toaster", 1),
        ),
        "livingroom": (
            ("armchair", 2), ("cabinet", 4), ("coffeetable", 2), ("diningtable", 1),
            ("drawer", 6), ("dresser", 1), ("garbagecan", 1), ("ottoman", 1), ("safe", 1),
            ("shelf", 6), ("sidetable", 2), ("sofa", 1), ("tvstand", 1),
        ),
        "bedroom": (
            ("armchair", 1), ("bed", 1), ("desk", 2), ("drawer", 8), ("dresser", 1),
            ("garbagecan", 1), ("laundryhamper", 1), ("safe", 1), ("shelf", 6),
            ("sidetable", 2),
        ),
        "bathroom": (
            ("bathtubbasin", 1), ("cabinet", 4), ("countertop", 1), ("drawer", 6),
            ("dresser", 1), ("garbagecan", 1), ("handtowelholder", 2), ("shelf", 2),
            ("sinkbasin", 2), ("toilet", 1), ("toiletpaperhanger", 1), ("towelholder", 1),
        ),
    }
)  # fmt: skip

_FOOD = ("countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan")
_DISH = ("countertop", "diningtable", "cabinet", "shelf", "fridge", "microwave", "sinkbasin",
         "sidetable", "desk", "dresser", "coffeetable")  # fmt: skip
_COOKWARE = ("countertop", "diningtable", "cabinet", "stoveburner", "sinkbasin", "shelf")
_UTENSIL = ("countertop", "diningtable", "drawer", "cabinet", "sinkbasin")
_DESK_SMALL = ("desk", "drawer", "dresser", "shelf", "sidetable", "safe", "coffeetable",
               "diningtable")  # fmt: skip
_SEAT = ("sofa", "armchair", "ottoman")
_DECOR = ("shelf", "sidetable", "coffeetable", "dresser", "tvstand", "diningtable", "desk",
          "safe", "cabinet", "countertop")  # fmt: skip
_BATH = ("toilet", "countertop", "cabinet", "drawer", "shelf", "dresser")

# Object type -> receptacle types it may rest in (ALFRED's canContain, simplified).
CAN_CONTAIN = MappingProxyType(
    {
        "apple": _FOOD, "tomato": _FOOD, "potato": _FOOD, "lettuce": _FOOD, "egg": _FOOD,
        "bread": ("countertop", "diningtable", "fridge", "microwave", "garbagecan"),
        "mug": (*_DISH, "coffeemachine"), "cup": (*_DISH, "coffeemachine"),
        "bowl": _DISH, "plate": _DISH,
        "pan": (*_COOKWARE, "fridge"), "pot": (*_COOKWARE, "fridge"), "kettle": _COOKWARE,
        "knife": _UTENSIL, "butterknife": _UTENSIL, "fork": _UTENSIL, "spoon": _UTENSIL,
        "spatula": _UTENSIL, "ladle": _UTENSIL,
        "peppershaker": ("countertop", "diningtable", "cabinet", "drawer", "shelf"),
        "saltshaker": ("countertop", "diningtable", "cabinet", "drawer", "shelf"),
        "dishsponge": ("countertop", "diningtable", "cabinet", "drawer", "sinkbasin",
                       "garbagecan"),
        "soapbottle": (*_BATH, "diningtable", "garbagecan"),
        "winebottle": ("countertop", "diningtable", "cabinet", "shelf", "fridge", "garbagecan"),
        "glassbottle": ("countertop", "diningtable", "cabinet", "shelf", "fridge", "garbagecan"),
        "cd": (*_DESK_SMALL, "garbagecan"), "pen": (*_DESK_SMALL, "garbagecan"),
        "pencil": (*_DESK_SMALL, "garbagecan"),
        "keychain": (*_DESK_SMALL, "tvstand", "sofa", "armchair"),
        "creditcard": (*_DESK_SMALL, "tvstand", "sofa", "armchair", "countertop"),
        "watch": (*_DESK_SMALL, "tvstand"),
        "cellphone": (*_DESK_SMALL, "bed", "tvstand", *_SEAT),
        "remotecontrol": (*_DESK_SMALL, "bed", "tvstand", *_SEAT),
        "alarmclock": ("desk", "dresser", "shelf", "sidetable"),
        "book": ("desk", "bed", "shelf", "sidetable", "dresser", "drawer", "coffeetable",
                 "diningtable", *_SEAT),
        "laptop": ("desk", "bed", "dresser", "sidetable", "coffeetable", "diningtable", *_SEAT),
        "pillow": ("bed", *_SEAT),
        "newspaper": ("coffeetable", "sidetable", "diningtable", "dresser", "tvstand",
                      "garbagecan", *_SEAT),
        "box": ("desk", "dresser", "sidetable", "shelf", "coffeetable", "tvstand",
                "diningtable", "garbagecan", *_SEAT),
        "statue": _DECOR, "vase": _DECOR,
        "tissuebox": (*_BATH, "sidetable", "coffeetable", "desk", "garbagecan"),
        "basketball": ("bed",), "baseballbat": ("bed", "desk"),
        "tennisracket": ("bed", "desk"), "teddybear": ("bed", "dresser", "armchair"),
        "soapbar": (*_BATH, "sinkbasin", "bathtubbasin", "garbagecan"),
        "spraybottle": ("toilet", "countertop", "cabinet", "shelf", "dresser", "garbagecan"),
        "toiletpaper": (*_BATH, "toiletpaperhanger", "garbagecan"),
        "candle": (*_BATH, "bathtubbasin", "sidetable"),
        "cloth": (*_BATH, "sinkbasin", "bathtubbasin", "garbagecan"),
        "handtowel": ("handtowelholder",), "towel": ("towelholder",),
        LAMP: ("desk", "sidetable", "dresser", "shelf"),
    }
)  # fmt: skip

SCENE_OBJECTS = MappingProxyType(
    {
        "kitchen": (
            "apple", "bread", "butterknife", "bowl", "cup", "dishsponge", "egg", "fork",
            "glassbottle", "kettle", "knife", "ladle", "lettuce", "mug", "pan",
            "peppershaker", "plate", "pot", "potato", "saltshaker", "soapbottle", "spatula",
            "spoon", "tomato", "winebottle", "creditcard", "vase", "statue",
        ),
        "livingroom": (
            "book", "box", "cellphone", "creditcard", "keychain", "laptop", "newspaper",
            "pillow", "remotecontrol", "statue", "tissuebox", "vase", "watch",
        ),
        "bedroom": (
            "alarmclock", "baseballbat", "basketball", "book", "bowl", "box", "cd",
            "cellphone", "creditcard", "keychain", "laptop", "mug", "pen", "pencil",
            "pillow", "teddybear", "tennisracket",
        ),
        "bathroom": (
            "candle", "cloth", "handtowel", "soapbar", "soapbottle", "spraybottle",
            "tissuebox", "toiletpaper", "towel",
        ),
    }
)  # fmt: skip

CLEANABLE = frozenset({
    "apple", "bowl", "butterknife", "cloth", "cup", "dishsponge", "egg", "fork", "kettle",
    "knife", "ladle", "lettuce", "mug", "pan", "plate", "pot", "potato", "soapbar", "spatula",
    "spoon", "tomato",
})  # fmt: skip
HEATABLE = frozenset({"apple", "bread", "cup", "egg", "mug", "plate", "potato", "tomato"})
COOLABLE = frozenset({
    "apple", "bowl", "bread", "cup", "egg", "lettuce", "mug", "pan", "plate", "pot", "potato",
    "tomato", "winebottle",
})  # fmt: skip
LOOK_OBJECTS = frozenset({
    "alarmclock", "book", "bowl", "box", "cd", "cellphone", "creditcard", "keychain", "laptop",
    "mug", "newspaper", "pen", "pencil", "pillow", "remotecontrol", "statue", "vase", "watch",
})  # fmt: skip

# Which object types each task type may be about.
TASK_OBJECTS = MappingProxyType(
    {
        "pick_clean_then_place_in_recep": CLEANABLE,
        "pick_heat_then_place_in_recep": HEATABLE,
        "pick_cool_then_place_in_recep": COOLABLE,
        "look_at_obj_in_light": LOOK_OBJECTS,
    }
)


def all_words() -> list[str]:
    """Every receptacle and object type name the generator can produce, sorted."""
    receptacles = {r for pool in SCENES.values() for r, _ in pool}
    return sorted(receptacles | set(CAN_CONTAIN))
