"""Retrieval strategies: routing tables, keyword fallback, Search-QA routing, random, full, UCB."""

from __future__ import annotations

import json
import random

import pytest

from sdar.envs.base import Task
from sdar.skills.bank import GENERAL, builtin_bank_dir, load_bank
from sdar.skills.retrieve import (
    RETRIEVERS,
    Retrieval,
    make_retriever,
    retrieval_stats,
    route_data_source,
)

ALFWORLD_TYPES = {
    "pick_and_place_simple": "pick_and_place",
    "look_at_obj_in_light": "look_at_obj_in_light",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_two_obj_and_place": "pick_two",
}


@pytest.fixture(scope="module")
def banks():
    return {
        env: load_bank(builtin_bank_dir(env))
        for env in ("household", "alfworld", "shop", "searchqa")
    }


def task(task_type: str = "", data_source: str = "", **extra) -> Task:
    return Task(task_id="t", task_type=task_type, data_source=data_source, extra=extra)


@pytest.mark.parametrize("env", ["household", "alfworld"])
@pytest.mark.parametrize(("task_type", "skill"), sorted(ALFWORLD_TYPES.items()))
def test_every_task_type_gets_its_file_and_general(banks, env, task_type, skill) -> None:
    bank = banks[env]
    r = make_retriever("keyword", bank).retrieve(task(task_type), "irrelevant goal text")
    assert r.skills == (GENERAL, skill)
    assert r.text == bank.general + "\n\n" + bank.skills[skill]


def test_game_file_path_routes_alfworld(banks) -> None:
    path = "json_2.1.1/train/pick_cool_then_place_in_recep-Apple-None-Fridge-1/trial_1/game.tw-pddl"
    r = make_retriever("keyword", banks["alfworld"]).retrieve(task(game_file=path), "")
    assert r.skills == (GENERAL, "cool")


@pytest.mark.parametrize(
    ("goal", "skill"),
    [
        ("put a hot mug in cabinet.", "heat"),
        ("heat some egg and put it in garbagecan.", "heat"),
        ("put a clean apple in fridge.", "clean"),
        ("cool some pan and put it in stoveburner.", "cool"),
        ("look at book under the desklamp.", "look_at_obj_in_light"),
        ("examine the cd with the desklamp.", "look_at_obj_in_light"),
        ("put two cellphone in sofa.", "pick_two"),
    ],
)
def test_keyword_fallback_from_goal_alone(banks, goal, skill) -> None:
    r = make_retriever("keyword", banks["alfworld"]).retrieve(task(), goal)
    assert r.skills == (GENERAL, skill)


def test_keyword_no_match_gives_general_only(banks) -> None:
    r = make_retriever("keyword", banks["alfworld"]).retrieve(task(), "put a pen on desk.")
    assert r.skills == (GENERAL,) and r.text == banks["alfworld"].general


def test_shop_keywords_match_at_word_start_and_can_match_several(banks) -> None:
    keyword = make_retriever("keyword", banks["shop"])
    r = keyword.retrieve(task(), "i need a shirt that is machine washable, price lower than 40")
    assert r.skills == (GENERAL, "apparel")  # "hat" must not fire inside "that"
    r = keyword.retrieve(task(), "Bluetooth headphones and a leather wallet")
    assert r.skills == (GENERAL, "electronics", "accessories")
    assert keyword.retrieve(task("beauty"), "").skills == (GENERAL, "beauty_health")


@pytest.mark.parametrize(
    ("source", "question", "category"),
    [
        ("popqa", "Which one is it, a or b?", "entity_attribute_lookup"),
        ("nq", "who wrote it", "direct_retrieval"),
        ("triviaqa", "who wrote it", "direct_retrieval"),
        ("hotpotqa", "Which is older, Ann or Bo?", "multi_hop_reasoning"),
        ("2wikimultihopqa", "Which film came out first, Alpha or Beta?", "compare"),
        ("musique", "Which film came out first, Alpha or Beta?", "compare"),
        ("bamboogle", "Which award was given for the film, Alpha or Beta?", "multi_hop_reasoning"),
        ("musique", "Who is the spouse of the director of Jump?", "multi_hop_reasoning"),
        ("2wikimultihopqa", "Where was the director of film X born?", "multi_hop_reasoning"),
        ("bamboogle", "Who founded it?", "multi_hop_reasoning"),
        ("other", "Which is larger, A or B?", "compare"),
        ("other", "Who founded it?", None),
        ("text", "Which is larger, A or B?", None),
        ("", "Which is larger, A or B?", None),
    ],
)
def test_data_source_routing(source, question, category) -> None:
    assert route_data_source(source, question) == category


def test_searchqa_keyword_strategy_routes_by_source(banks) -> None:
    keyword = make_retriever("keyword", banks["searchqa"])
    r = keyword.retrieve(task("", "popqa"), "What is the occupation of X?")
    assert r.skills == (GENERAL, "entity_attribute_lookup")
    r = keyword.retrieve(task("", "musique"), "Which film came out first, Alpha or Beta?")
    assert r.skills == (GENERAL, "compare")
    assert keyword.retrieve(task("", "unknown"), "Who?").skills == (GENERAL,)


def test_full_has_everything_once(banks) -> None:
    bank = banks["alfworld"]
    r = make_retriever("full", bank).retrieve(task("pick_heat_then_place_in_recep"), "")
    assert r.skills == (GENERAL, *bank.skills)
    for text in (bank.general, *bank.skills.values()):
        assert r.text.count(text) == 1


def test_random_is_seeded_and_varies_across_groups(banks) -> None:
    bank = banks["shop"]
    a = make_retriever("random", bank, seed=3)
    b = make_retriever("random", bank, seed=3)
    picks = [a.retrieve(task(), "", step=1, group=g).skills for g in range(40)]
    assert picks == [b.retrieve(task(), "", step=1, group=g).skills for g in range(40)]
    assert all(len(p) == 2 and p[0] == GENERAL and p[1] in bank.skills for p in picks)
    assert len({p[1] for p in picks}) >= 4
    other_seed = make_retriever("random", bank, seed=4)
    assert picks != [other_seed.retrieve(task(), "", step=1, group=g).skills for g in range(40)]


def test_none_and_general_only(banks) -> None:
    bank = banks["alfworld"]
    heat = task("pick_heat_then_place_in_recep")
    assert make_retriever("none", None).retrieve(heat, "") == Retrieval("", ())
    r = make_retriever("general_only", bank).retrieve(heat, "put a hot mug in cabinet.")
    assert r == Retrieval(bank.general, (GENERAL,))


def test_registry_and_errors(banks) -> None:
    assert set(RETRIEVERS) == {"keyword", "full", "random", "ucb", "none", "general_only"}
    with pytest.raises(ValueError, match="valid: keyword, full, random, ucb, none, general_only"):
        make_retriever("bm25", banks["alfworld"])
    with pytest.raises(ValueError, match="needs a skill bank"):
        make_retriever("keyword", None)
    stateless = make_retriever("keyword", banks["alfworld"])
    assert stateless.state_dict() == {}
    stateless.update("x", "heat", [1.0])  # accepted, learns nothing
    with pytest.raises(ValueError, match="no state"):
        stateless.load_state_dict({"c": 1})


def test_ucb_tries_unseen_first_in_bank_order(banks) -> None:
    bank = banks["alfworld"]
    ucb = make_retriever("ucb", bank)
    seen = []
    for _ in bank.skills:
        r = ucb.retrieve(task("pick_heat_then_place_in_recep"), "")
        seen.append(r.skills[1])
        ucb.update("pick_heat_then_place_in_recep", r.skills[1], [0.0])
    assert seen == list(bank.skills)
    # another task type has its own bandit and starts from scratch
    assert ucb.retrieve(task("pick_cool_then_place_in_recep"), "").skills[1] == "pick_and_place"


def test_ucb_converges_to_best_file(banks) -> None:
    bank = banks["alfworld"]
    success = {name: 0.2 for name in bank.skills} | {"heat": 0.8, "cool": 0.5}
    ucb = make_retriever("ucb", bank)
    rng = random.Random(0)
    picks = []
    for _ in range(1500):
        arm = ucb.retrieve(task("pick_heat_then_place_in_recep"), "").skills[1]
        rewards = [10.0 * (rng.random() < success[arm]) for _ in range(2)]
        ucb.update("pick_heat_then_place_in_recep", arm, rewards)
        picks.append(arm)
    last = picks[-300:]
    assert max(set(last), key=last.count) == "heat"
    assert last.count("heat") / len(last) > 0.6


def test_ucb_exact_scores() -> None:
    """Hand-computed UCB1 with c = 1 and N = 10 episodes of task type q."""
    bank = load_bank(builtin_bank_dir("searchqa"))
    ucb = make_retriever("ucb", bank, ucb_c=1.0)
    ucb.update("q", "direct_retrieval", [1.0])
    ucb.update("q", "multi_hop_reasoning", [0.0, 0.0, 0.0])
    ucb.update("q", "entity_attribute_lookup", [0.5, 0.5, 0.5])
    ucb.update("q", "compare", [0.0, 1.0, 0.0])
    # direct 1 + sqrt(ln 10 / 1) = 2.52 > entity 0.5 + sqrt(ln 10 / 3) = 1.38 > compare 1.21
    assert ucb.retrieve(task("q"), "").skills[1] == "direct_retrieval"
    with pytest.raises(ValueError, match="not a task skill"):
        ucb.update("q", "general_skills", [1.0])
    with pytest.raises(ValueError, match="rewards is empty"):
        ucb.update("q", "compare", [])


def test_ucb_state_round_trips_through_json(banks) -> None:
    bank = banks["alfworld"]
    ucb = make_retriever("ucb", bank, ucb_c=0.5)
    for i, name in enumerate(bank.skills):
        ucb.update("pick_and_place_simple", name, [float(i), 1.0])
    state = json.loads(json.dumps(ucb.state_dict()))
    restored = make_retriever("ucb", bank)
    restored.load_state_dict(state)
    assert restored.state_dict() == ucb.state_dict()
    probe = task("pick_and_place_simple")
    assert restored.retrieve(probe, "") == ucb.retrieve(probe, "")
    state["counts"]["pick_and_place_simple"]["nonexistent"] = 1
    with pytest.raises(ValueError, match="nonexistent"):
        restored.load_state_dict(state)


def test_retrieval_stats() -> None:
    rs = [
        Retrieval("g", (GENERAL,)),
        Retrieval("g h", (GENERAL, "heat")),
        Retrieval("g h c", (GENERAL, "heat", "cool")),
        Retrieval("", ()),
    ]
    assert retrieval_stats(rs) == {"skills/matched_mean": 0.75, "skills/general_only_ratio": 0.25}
