"""The WebShop env: pages, navigation, invalid actions, the expert, the twin, the data lookup.

Real-data tests read ../shared/data/webshop in place (or $WEBSHOP_DATA) and skip without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sdar.cli import main
from sdar.envs.base import INFO_KEYS, Env, EnvError, Task
from sdar.envs.play import play
from sdar.envs.registry import get_env_spec
from sdar.envs.webshop.catalogue import PRODUCTS_FILE
from sdar.envs.webshop.engine import resolve_click
from sdar.envs.webshop.projection import webshop_project
from sdar.envs.webshop.prompt import MAX_PROMPT_CHARS, webshop_prompt
from sdar.envs.webshop.reward import purchase_score
from sdar.envs.webshop.search import build_search
from sdar.envs.webshop.spec import SPEC, TASK_TYPES, eval_tasks, train_tasks
from sdar.envs.webshop.twin import twin_catalogue
from sdar.skills.bank import builtin_bank_dir

DATA = Path(
    os.environ.get("WEBSHOP_DATA") or Path(__file__).resolve().parents[2] / "../shared/data/webshop"
).resolve()
needs_data = pytest.mark.skipif(
    not (DATA / PRODUCTS_FILE).is_file(), reason=f"needs the WebShop catalogue at {DATA}"
)
REAL = {"data_dir": str(DATA)}
TWIN = {"catalogue": "builtin"}


@pytest.fixture(scope="module")
def twin() -> Env:
    return SPEC.make(TWIN)


def goal_task(options, want_options=True) -> Task:
    """The first panel task whose product has at least two options (a fuller item page)."""
    for task in eval_tasks(options, 60):
        if len(task.extra["goal"]["goal_options"]) >= 2 or not want_options:
            return task
    raise AssertionError("no panel goal with options")


def run(env, actions):
    results = [env.step(a) for a in actions]
    return results[-1]


def test_reset_shows_the_search_page_and_info_keys(twin):
    task = goal_task(TWIN)
    obs, info = twin.reset(task)
    assert obs == "'Search'"
    assert set(INFO_KEYS) <= set(info) and info["goal"] == task.extra["goal"]["instruction_text"]
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["task_type"] == task.task_type in TASK_TYPES


def test_results_pages_next_and_prev(twin):
    twin.reset(goal_task(TWIN))
    first = twin.step("search[leggings high waist]")
    parts = first.observation.split(" [SEP] ")
    assert parts[:3] == ["'Back to Search'", "'Page 1 (Total results: 50)'", "'Next >'"]
    asins = [a for a in first.info["admissible_actions"] if a.startswith("click[b0")]
    assert len(asins) == 10 and len(parts) == 3 + 3 * 10  # asin, title, price per product
    assert "click[< prev]" not in first.info["admissible_actions"]
    second = twin.step("click [ Next > ]")  # spaced out, as word-level tokenizers write it
    assert "'Page 2 (Total results: 50)'" in second.observation
    assert second.info["admissible_actions"][:3] == [
        "click[back to search]",
        "click[< prev]",
        "click[next >]",
    ]
    assert not set(second.info["admissible_actions"]) & set(asins)
    back = twin.step("click[< prev]")
    assert back.observation == first.observation
    sixth = run(twin, ["click[next >]"] * 5)  # page 6 of 50 hits is empty
    assert "'Page 6 (Total results: 50)'" in sixth.observation
    assert not [a for a in sixth.info["admissible_actions"] if a.startswith("click[b0")]


def test_item_page_sub_pages_options_and_buy(twin):
    task = goal_task(TWIN)
    goal = task.extra["goal"]
    twin.reset(task)
    product = twin.catalogue.products[goal["asin"]]
    twin.step(f"search[{product['Title']}]")
    item = twin.step(f"click[{goal['asin'].lower()}]")
    texts = [p.strip("'") for p in item.observation.split(" [SEP] ")]
    assert texts[:2] == ["Back to Search", "< Prev"] and texts[-4:] == [
        "Description",
        "Features",
        "Reviews",
        "Buy Now",
    ]
    for name, values in product["options"].items():
        assert name in texts and all(
            f"click[{v}]" in item.info["admissible_actions"] for v in values
        )
    assert f"Price: {product['Price']}" in texts and product["Title"] in texts
    description = twin.step("click[description]")
    assert (
        description.observation
        == f"'Back to Search' [SEP] '< Prev' [SEP] '{product['Description']}'"
    )
    assert twin.step("click[< prev]").observation == item.observation
    for value in goal["goal_options"].values():
        assert twin.step(f"click[{value}]").info["is_action_valid"]
    assert twin.shop.state.options == goal["goal_options"]
    done = twin.step("click[buy now]")
    expected, _ = purchase_score(
        product, goal, twin.catalogue.prices[goal["asin"]], goal["goal_options"]
    )
    assert done.done and done.info["score"] == done.reward == expected
    assert done.info["won"] == (expected == 1.0) and done.info["purchased"] == goal["asin"]
    with pytest.raises(EnvError, match="finished episode"):
        twin.step("click[buy now]")


def test_prev_from_item_returns_to_its_results_page(twin):
    twin.reset(goal_task(TWIN))
    results = twin.step("search[shampoo]")
    first_asin = next(a for a in results.info["admissible_actions"] if a.startswith("click[b0"))
    twin.step(first_asin)
    assert twin.step("click[< prev]").observation == results.observation
    assert twin.step("click[back to search]").observation == "'Search'"


def test_invalid_actions_change_nothing_and_count(twin):
    obs, _ = twin.reset(goal_task(TWIN))
    for action in ("click[buy now]", "buy it", "search[]", "click[next >]", "search x"):
        result = twin.step(action)
        assert not result.info["is_action_valid"] and result.observation == obs and not result.done
    results = twin.step("SEARCH[Shampoo]")  # case-insensitive
    assert results.info["is_action_valid"]
    assert not twin.step("click[b0nothere1]").info["is_action_valid"]
    last = run(twin, ["click[nothing]"] * 8)  # 15 steps in all, nothing bought
    assert last.done and not last.info["won"] and last.info["score"] == 0.0
    assert last.info["purchased"] is None and twin.steps == 15


def test_projection_accepts_searches_and_listed_clicks():
    listed = ["search[<your query>]", "click[buy now]"]
    assert webshop_project(
        "<think>x</think><action>search[red shoes]</action>", listed, think=True
    ) == (
        "search[red shoes]",
        True,
    )
    assert webshop_project("<action>click[Buy Now]</action>", listed, think=False) == (
        "click[buy now]",
        True,
    )
    assert webshop_project("<action>click[next >]</action>", listed, think=False)[1] is False
    spaced = webshop_project("<action>click [ Buy  Now ]</action>", listed, think=False)
    assert spaced == ("click[buy now]", True)
    assert webshop_project("<action>search[x]</action>", listed[1:], think=False)[1] is False
    assert webshop_project("<action>search[]</action>", listed, think=False)[1] is False
    assert webshop_project("I will click on the buy now button", listed, think=False) == (
        "n the buy now button",
        False,
    )  # the last 20 characters


def test_prompt_drops_history_past_the_limit():
    kwargs = dict(
        goal="buy socks", observation="'Search'", admissible=["search[<your query>]"], think=True
    )
    short = webshop_prompt(history=[("'Search'", "search[socks]")], step=1, **kwargs)
    assert "Prior to this step you took 1 step(s)." in short and "WebShop" in short
    long = webshop_prompt(history=[("x" * MAX_PROMPT_CHARS, "search[socks]")], step=1, **kwargs)
    assert "Prior to this step" not in long and "'search[<your query>]'" in long


def test_task_pools_are_seeded_and_disjoint():
    panel = eval_tasks(TWIN, 128)
    assert [t.task_id for t in panel] == [t.task_id for t in eval_tasks(TWIN, 128)]
    assert all(t.seed < 500 for t in panel) and panel[0].seed == 0
    train = train_tasks(TWIN, 3, 64)
    assert [t.task_id for t in train] == [t.task_id for t in train_tasks(TWIN, 3, 64)]
    assert all(t.seed >= 500 for t in train) and len({t.task_id for t in train}) == 64
    assert [t.task_id for t in train] != [t.task_id for t in train_tasks(TWIN, 4, 64)]
    assert {t.task_type for t in panel} == set(TASK_TYPES)


def test_twin_is_deterministic_and_in_webshop_schema():
    first, again = twin_catalogue(200, 5), twin_catalogue.__wrapped__(200, 5)
    assert list(first.products) == list(again.products) and first.goals == again.goals
    assert first.fingerprint == again.fingerprint != twin_catalogue(200, 6).fingerprint
    product = next(iter(first.products.values()))
    for key in (
        "asin",
        "Title",
        "Price",
        "pricing",
        "options",
        "Attributes",
        "query",
        "product_category",
    ):
        assert key in product
    assert len(product["asin"]) == 10 and {g["category"] for g in first.goals} <= set(TASK_TYPES)


def test_expert_wins_twin_panel():
    summary = play("webshop", "expert", 64, options=TWIN)
    assert summary["success"] >= 0.95 and summary["score"] >= 0.98


def test_search_index_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("SDAR_CACHE", str(tmp_path))
    catalogue = twin_catalogue(120, 9)
    built = build_search.__wrapped__(catalogue)
    assert list((tmp_path / "webshop-index").iterdir())
    loaded = build_search.__wrapped__(catalogue)
    title = next(iter(catalogue.products.values()))["Title"]
    assert (
        built.search(title) == loaded.search(title) and built.search(title)[0] in catalogue.products
    )
    assert built.search("zzzz qqqq") == []


def test_missing_data_is_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(EnvError, match=f"{PRODUCTS_FILE} does not exist.*WEBSHOP_DATA"):
        SPEC.make({"data_dir": str(tmp_path)})
    monkeypatch.delenv("WEBSHOP_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(EnvError, match="no WebShop data folder is configured"):
        SPEC.make({"catalogue": "real"})
    assert SPEC.make({}).catalogue.source.startswith("built-in twin")  # nothing configured
    with pytest.raises(EnvError, match="need a catalogue folder"):
        SPEC.make({"goals": "human"})
    with pytest.raises(ValueError, match="unknown WebShop option 'colour'"):
        SPEC.make({"colour": "red"})


def test_original_engine_without_webshop_says_what_to_install():
    pytest.importorskip("sdar.envs.webshop.original")
    try:
        import web_agent_site  # noqa: F401
    except ImportError:
        with pytest.raises(EnvError, match="pyserini==0.22.1"):
            SPEC.make({"engine": "original"})


def test_registry_and_skill_bank():
    assert get_env_spec("webshop") is SPEC and SPEC.episode_metrics == ("score",)
    assert SPEC.max_steps == 15 and SPEC.invalid_penalty == 0.1 and SPEC.success_reward == 10.0
    assert SPEC.episode_reward({"won": True, "score": 1.0}, 10.0) == 10.0
    assert SPEC.episode_reward({"won": False, "score": 0.9}, 10.0) == 0.0
    assert builtin_bank_dir("webshop").name == "shop"


@needs_data
def test_expert_buys_the_target_on_real_goals():
    env = SPEC.make(REAL)
    tasks = eval_tasks(REAL, 40)
    wins = 0
    for task in tasks:
        env.reset(task)
        while (action := env.expert_action()) is not None:
            result = env.step(action)
        goal = task.extra["goal"]
        assert result.info["purchased"] == goal["asin"]
        assert env.shop.state.options == goal["goal_options"]
        wins += result.info["won"]
    assert wins >= 38


@needs_data
def test_real_catalogue_loads_and_splits():
    panel = eval_tasks(REAL, 128)
    assert len({t.task_id for t in panel}) == 128 and all(t.seed < 500 for t in panel)
    assert len(eval_tasks({**REAL, "eval_split": "test"}, 494)) == 494
    human = eval_tasks({**REAL, "goals": "human"}, 13)
    assert len({t.task_id for t in human}) == 13


@needs_data
def test_play_json_has_the_documented_keys(capsys):
    assert (
        main(
            [
                "play",
                "webshop",
                "--agent",
                "random",
                "--episodes",
                "6",
                "--data-dir",
                str(DATA),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    for key in ("success", "score", "episodes", "steps_per_second", "per_task_type"):
        assert key in out
    assert out["episodes"] == 6 and 0.0 <= out["score"] <= 1.0


@pytest.mark.slow
@needs_data
def test_expert_reaches_webshops_ceiling_on_all_shared_goals():
    """WebShop's own get_reward gives 1.0 to an exact purchase on 6,452 of its 6,910
    synthetic goals, 100 of them among the 101 held out of the shared file: 6,352 of 6,809."""
    options = {**REAL, "eval_split": "all"}
    summary = play("webshop", "expert", 6809, options=options)
    assert summary["episodes"] == 6809 and round(summary["success"] * 6809) == 6352
    assert summary["score"] == pytest.approx(0.9895, abs=5e-4)


def test_click_targets_resolve_exactly_before_loosely():
    sizes = ["39x49in", "39 x 49 in", '18" x 18"']
    assert resolve_click("39 x 49 in", sizes) == "39 x 49 in"  # a real product has both
    assert resolve_click("39X49IN", sizes) == "39x49in"
    assert resolve_click('18 " x 18 "', sizes) == '18" x 18"'  # spaced out by a tokenizer
    assert resolve_click("39x49 in", sizes) is None  # loosely equal to two: ambiguous
    assert resolve_click("b17-army green", ["b17-army\xa0green"]) == "b17-army\xa0green"
