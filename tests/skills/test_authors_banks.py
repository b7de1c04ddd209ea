"""The authors' published skill banks load unchanged and route as their code does.

The expected skills below were worked out by hand from the authors' ``SkillProvider``
(ZJU-REAL/SDAR at 8b85c23, ``verl/trainer/ppo/rlsd_utils.py``; SDAR_SPEC 4.2):

* ALFWorld: the first ``task_to_skill`` key (in file order) that is a substring of the
  game path; ``pick_two_obj_and_place`` maps to the shared ``pick_and_place`` file.
* WebShop (``data_source == "text"``): every task type with any keyword as a plain
  substring of the lower-cased prompt, in ``task_keywords`` order; none -> general only.
* Search: popqa, nq/triviaqa, hotpotqa by source; otherwise the compare rule ("which" and
  "or" but not "for" in the text), then 2wikimultihopqa/musique/bamboogle; else general.

The returned text is ``general + "\\n\\n" + skill ...`` with each file's text stripped.
"""

from pathlib import Path

import pytest

from sdar.cli import main
from sdar.envs.base import Task
from sdar.skills.bank import GENERAL, load_bank
from sdar.skills.report import check_bank, show_privileged
from sdar.skills.retrieve import make_retriever, prompt_skills

AUTHORS = Path(__file__).resolve().parents[3] / "shared" / "data" / "authors-skills"
ALFWORLD_DATA = AUTHORS.parent / "alfworld" / "json_2.1.1"

pytestmark = pytest.mark.skipif(
    not AUTHORS.is_dir(),
    reason=f"the authors' skill banks are not at {AUTHORS} (shared data folder absent)",
)


def authors_text(env: str, *skills: str) -> str:
    """general + each skill's file, read straight from the folder (as their loader does)."""
    files = {"general_skills": "general_skills.md", **{s: f"{s}.md" for s in skills}}
    parts = [(AUTHORS / env / files[s]).read_text(encoding="utf-8").strip() for s in files]
    return "\n\n".join(parts)


@pytest.mark.parametrize("env", ["alfworld", "search", "webshop"])
def test_each_folder_loads_unchanged_and_checks_clean(env):
    bank = load_bank(AUTHORS / env)
    report = check_bank(AUTHORS / env)
    assert report["unused_skills"] == []
    assert report["warnings"] == []
    assert bank.general == (AUTHORS / env / "general_skills.md").read_text().strip()
    assert report["files"][GENERAL] == "general_skills.md"


ALFWORLD_ROUTES = [
    ("pick_and_place_simple-Pencil-None-Desk-307", "pick_and_place"),
    ("pick_two_obj_and_place-Apple-None-Fridge-1", "pick_and_place"),
    ("look_at_obj_in_light-AlarmClock-None-DeskLamp-301", "look_at_obj_in_light"),
    ("pick_heat_then_place_in_recep-Egg-None-Fridge-13", "heat"),
    ("pick_cool_then_place_in_recep-Lettuce-None-CounterTop-11", "cool"),
    ("pick_clean_then_place_in_recep-Mug-None-CoffeeMachine-5", "clean"),
]


@pytest.mark.parametrize(("folder", "skill"), ALFWORLD_ROUTES)
def test_alfworld_routes_by_game_path(folder, skill):
    path = f"/data/json_2.1.1/train/{folder}/trial_T20190001_000000_000000/game.tw-pddl"
    # The goal text names other task types; the game path wins, as in their trainer.
    task = Task("t", task_type="", data_source="alfworld", extra={"game_file": path})
    r = make_retriever("keyword", load_bank(AUTHORS / "alfworld")).retrieve(
        task, "put a clean cool heated apple under the light"
    )
    assert r.skills == (GENERAL, skill)
    assert r.text == authors_text("alfworld", skill)
    shown = show_privileged(None, game_file=path, bank_dir=AUTHORS / "alfworld")
    assert shown.endswith("\n\n" + authors_text("alfworld", skill))


@pytest.mark.skipif(not ALFWORLD_DATA.is_dir(), reason=f"no ALFWorld games at {ALFWORLD_DATA}")
def test_alfworld_real_games_route_by_their_task_type_folder():
    expected = {folder.split("-")[0]: skill for folder, skill in ALFWORLD_ROUTES}
    keyword = make_retriever("keyword", load_bank(AUTHORS / "alfworld"))
    games = sorted(ALFWORLD_DATA.glob("valid_seen/*/*/game.tw-pddl"))
    assert {g.parts[-3].split("-")[0] for g in games} == set(expected)
    for game in games:
        task = Task("t", task_type=game.parts[-3].split("-")[0], extra={"game_file": str(game)})
        assert keyword.retrieve(task, "").skills == (GENERAL, expected[task.task_type])


WEBSHOP_PROMPT = (
    "You are an expert autonomous agent operating in the WebShop e-commerce environment.\n"
    "Your task is to: {goal}.\nYour current observation is: {obs}.\n"
    "Now it's your turn to take one action for the current step."
)
WEBSHOP_ROUTES = [
    # (goal, observation, skills the authors' code picks)
    ("i need a men's t-shirt with short sleeves", "Search", ["apparel"]),
    # "phone" inside "iphone" and "hat" inside "that": plain substrings match.
    ("i want a slim case that fits my iphone 12", "Search", ["electronics", "accessories"]),
    # A results page names products of other categories: all of them match, in file order.
    (
        "i need a gold watch band",
        "[SEP] Leather Ankle Boots [SEP] $39.99 [SEP] Bluetooth Speaker [SEP] $25.00",
        ["footwear", "electronics", "accessories"],
    ),
    ("i need gluten free crackers, and price lower than 20.00 dollars", "Search", []),
]


@pytest.mark.parametrize(("goal", "obs", "skills"), WEBSHOP_ROUTES)
def test_webshop_routes_by_keywords_over_the_whole_prompt(goal, obs, skills):
    bank = load_bank(AUTHORS / "webshop")
    prompt = WEBSHOP_PROMPT.format(goal=goal, obs=obs)
    keyword = make_retriever("keyword", bank, keyword_match="substring")
    r = keyword.retrieve(Task("t", task_type="", data_source="text"), prompt)
    assert r.skills == (GENERAL, *skills)
    assert r.text == authors_text("webshop", *skills)
    # Skill-GRPO's per-step student choice gives the same text for the same prompt.
    assert prompt_skills(bank, prompt).text == r.text
    shown = show_privileged(
        None,
        task=prompt,
        data_source="text",
        bank_dir=AUTHORS / "webshop",
        keyword_match="substring",
    )
    assert shown.endswith("\n\n" + authors_text("webshop", *skills))


def test_webshop_word_matching_is_our_stricter_default():
    keyword = make_retriever("keyword", load_bank(AUTHORS / "webshop"))
    r = keyword.retrieve(Task("t", task_type=""), "i want a slim case that fits my iphone 12")
    assert r.skills == (GENERAL,)  # neither "phone" in "iphone" nor "hat" in "that"


SEARCH_ROUTES = [
    ("popqa", "Which country or region is Lake Victoria in?", "entity_attribute_lookup"),
    ("nq", "who wrote the play hamlet", "direct_retrieval"),
    ("triviaqa", "Which planet is known as the red planet, Mars or Venus?", "direct_retrieval"),
    ("hotpotqa", "Which magazine came first, Arthur's Magazine or Vogue?", "multi_hop_reasoning"),
    ("2wikimultihopqa", "Which film came out first, Blind Shaft or Mask?", "compare"),
    (
        "2wikimultihopqa",
        "Which film came first, Blind Shaft or First for Women?",
        "multi_hop_reasoning",
    ),
    ("musique", "Who is the spouse of the Green performer?", "multi_hop_reasoning"),
    ("bamboogle", "Which is older, the Eiffel Tower or Big Ben?", "compare"),
    ("squad", "Which is taller, Everest or K2?", "compare"),
    ("squad", "Who painted the Mona Lisa?", None),
]


@pytest.mark.parametrize(("source", "question", "skill"), SEARCH_ROUTES)
def test_search_routes_by_data_source(source, question, skill):
    keyword = make_retriever("keyword", load_bank(AUTHORS / "search"))
    r = keyword.retrieve(Task("t", task_type="", data_source=source), question)
    skills = [skill] if skill else []
    assert r.skills == (GENERAL, *skills)
    assert r.text == authors_text("search", *skills)


def test_prompt_matching_repeats_a_shared_skill_as_the_authors_code():
    bank = load_bank(AUTHORS / "alfworld")
    r = prompt_skills(bank, "Your task is to: put two cellphone in sofa.")
    # "put two" (pick_two_obj_and_place) and "put" (pick_and_place) both map to one file.
    assert r.skills == (GENERAL, "pick_and_place", "pick_and_place")
    assert (
        r.text
        == authors_text("alfworld", "pick_and_place") + "\n\n" + bank.skills["pick_and_place"]
    )


def test_cli_check_and_show_accept_the_folders(capsys):
    for env in ("alfworld", "search", "webshop"):
        assert main(["skills", "check", str(AUTHORS / env)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "skills",
                "show",
                "--dir",
                str(AUTHORS / "search"),
                "--data-source",
                "musique",
                "--task",
                "Which film came out first, Blind Shaft or Mask?",
            ]
        )
        == 0
    )
    assert "skills: general_skills, compare" in capsys.readouterr().out


def test_teacher_step_skills_follow_the_authors_trainer():
    """skills.teacher_match=prompt: the teacher's skills are chosen at every step, by game
    path (ALFWorld), data source with the whole prompt (Search), keywords over the prompt
    (WebShop, which the authors' pipeline labels "text")."""
    from sdar.skills.retrieve import step_skills

    alf = load_bank(AUTHORS / "alfworld")
    game = "/d/json_2.1.1/train/pick_two_obj_and_place-Apple-None-Fridge-1/t/game.tw-pddl"
    task = Task("t", "pick_two_obj_and_place", data_source="alfworld", extra={"game_file": game})
    assert step_skills(alf, task, "heat the mug").text == authors_text("alfworld", "pick_and_place")
    shop = load_bank(AUTHORS / "webshop")
    goal = Task("g", "electronics", data_source="webshop")
    page1 = "i need a phone case. [SEP] search"
    page2 = "i need a phone case. [SEP] leather wallet case [SEP] buy now"
    assert step_skills(shop, goal, page1).text == authors_text("webshop", "electronics")
    assert step_skills(shop, goal, page2).text == authors_text(
        "webshop", "electronics", "accessories"
    )
    search = load_bank(AUTHORS / "search")
    q = Task("q", "2wikimultihopqa", data_source="2wikimultihopqa")
    compare = "Which film came out first, A or B?"
    assert step_skills(search, q, compare).text == authors_text("search", "compare")
    # the whole prompt is read: a "for" anywhere in it turns the compare rule off
    prompt = "Answer the question. Search for facts.\n" + compare
    assert step_skills(search, q, prompt).text == authors_text("search", "multi_hop_reasoning")
