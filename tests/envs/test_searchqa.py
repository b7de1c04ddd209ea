"""Search-QA: EM normaliser, projection, prompt, episode rules, twin, question loading."""

from __future__ import annotations

import json

import pytest

from sdar.envs.base import EnvError, Task
from sdar.envs.play import play
from sdar.envs.registry import get_env_spec
from sdar.envs.searchqa.answers import answer_in_passages, exact_match, normalize_answer
from sdar.envs.searchqa.backend import make_task
from sdar.envs.searchqa.data import Passage, Question, load_corpus, load_questions
from sdar.envs.searchqa.env import FORMAT_REMINDER, SearchQAEnv, render_passages
from sdar.envs.searchqa.options import parse_options
from sdar.envs.searchqa.projection import search_project
from sdar.envs.searchqa.prompt import search_prompt
from sdar.envs.searchqa.twin import DIRECT, MULTI_HOP, make_world


@pytest.fixture(autouse=True)
def _no_user_data(monkeypatch, tmp_path):
    """Tests never pick up a user's $SEARCHQA_DATA or ~/.cache data folder."""
    monkeypatch.delenv("SEARCHQA_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


# --- EM normaliser (hand cases) -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Beatles", "beatles"),
        ("  An   apple a day ", "apple day"),
        ("U.S.A.", "usa"),
        ("Rock-and-roll!", "rockandroll"),
        ("theatre", "theatre"),  # "the" only as a whole word
        ("A", ""),
        ("Café  Ünïcode", "café ünïcode"),  # only ASCII punctuation goes
    ],
)
def test_normalize_answer_hand_cases(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_against_any_gold():
    assert exact_match("the beatles.", ["Fab Four", "Beatles"])
    assert exact_match("1,000", ["1000"])
    assert not exact_match("Beatles band", ["Beatles"])
    assert not exact_match("Paris", [])


def test_answer_in_passages_needs_whole_words():
    passages = ["He was born in Parisville.", "She lived in New York City."]
    assert answer_in_passages(passages, ["Paris"]) is None
    assert answer_in_passages(passages, ["york city"]) == "york city"
    assert answer_in_passages(passages, ["the", "New York"]) == "New York"  # "" never matches


# --- projection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "action", "valid"),
    [
        ("<think>x</think><search> Eiffel tower </search>", "<search>Eiffel tower</search>", True),
        ("<answer>Paris</answer>", "<answer>Paris</answer>", True),
        ("<ANSWER> Paris </ANSWER>", "<answer>Paris</answer>", True),
        ("no tags at all", "", False),
        ("<search>unclosed", "", False),
        ("<search>a</search><answer>b</answer>", "<search>a</search>", False),  # both kinds
        ("<search>a</search><search>b</search>", "<search>a</search>", False),  # two searches
        ("<answer>a</answer> then <answer>b</answer>", "<answer>a</answer>", False),
        ("<think>no action</think>", "", False),
    ],
)
def test_projection(text, action, valid):
    assert search_project(text, None, think=True) == (action, valid)


# --- prompt ---------------------------------------------------------------------------


def test_prompt_first_step_and_history_pairs_actions_with_their_results():
    first = search_prompt(
        goal="Q?", observation="Q?", admissible=None, history=[], step=0, think=True
    )
    assert "Your question: Q?" in first and "<think>" in first and "Step 1" not in first
    history = [("Q?", "<search>a</search>"), ("<information>A</information>", "<search>b</search>")]
    later = search_prompt(
        goal="Q?",
        observation="<information>B</information>",
        admissible=None,
        history=history,
        step=3,
        think=False,
    )
    assert "took 3 step(s)" in later and "<think>" not in later
    assert "Step 2: <search>a</search> <information>A</information>" in later
    assert "Step 3: <search>b</search> <information>B</information>" in later
    with pytest.raises(ValueError):
        search_prompt(
            goal="Q", observation="", admissible=None, history=history, step=1, think=True
        )


# --- env rules ------------------------------------------------------------------------


class FakeRetriever:
    def __init__(self, passages):
        self.passages = passages
        self.queries = []

    def search(self, queries, topk):
        self.queries.extend(queries)
        return [self.passages[:topk] for _ in queries]


PASSAGES = [
    Passage("1", '"Dune"\nDune is a novel by Frank Herbert.'),
    Passage("2", '"Frank Herbert"\nFrank Herbert was born in Tacoma.'),
]


def _task(answers=("Frank Herbert",), queries=()):
    question = Question("q1", "Who wrote Dune?", tuple(answers), "nq")
    return make_task(question, 0, tuple(queries))


def test_search_then_correct_answer_wins():
    env = SearchQAEnv(FakeRetriever(PASSAGES), topk=1, max_steps=4)
    obs, info = env.reset(_task())
    assert obs == info["goal"] == "Who wrote Dune?" and info["admissible_actions"] is None
    step = env.step("<search>Dune author</search>")
    assert step.observation == render_passages(PASSAGES[:1]) and not step.done
    assert step.observation.startswith('<information>Doc 1(Title: "Dune") Dune is')
    final = env.step("<answer>frank herbert</answer>")
    assert final.done and final.info["won"] and final.reward == 1.0
    assert final.info["answer"] == "frank herbert" and final.info["task_type"] == "nq"
    with pytest.raises(EnvError):
        env.step("<answer>again</answer>")


@pytest.mark.parametrize("answer", ["Isaac Asimov", ""])
def test_wrong_or_empty_answer_ends_the_episode_lost(answer):
    env = SearchQAEnv(FakeRetriever(PASSAGES))
    env.reset(_task())
    result = env.step(f"<answer>{answer}</answer>")
    assert result.done and not result.info["won"] and result.reward == 0.0


def test_invalid_actions_spend_turns_and_the_fourth_turn_ends_the_episode():
    retriever = FakeRetriever(PASSAGES)
    env = SearchQAEnv(retriever, max_steps=4)
    env.reset(_task())
    for action in ("", "look around", "<search>  </search>"):
        result = env.step(action)
        assert result.observation == FORMAT_REMINDER and not result.info["is_action_valid"]
        assert not result.done
    assert retriever.queries == []  # nothing malformed reaches the retriever
    last = env.step("<search>Dune</search>")
    assert last.done and not last.info["won"] and last.info["is_action_valid"]


def test_oracle_answers_only_what_it_retrieved():
    env = SearchQAEnv(FakeRetriever(PASSAGES), topk=2)
    env.reset(_task())
    assert env.expert_action() == "<search>Who wrote Dune?</search>"
    env.step(env.expert_action())
    assert env.expert_action() == "<answer>Frank Herbert</answer>"
    env.reset(_task(answers=("Tacoma",)))
    env.step(env.expert_action())
    assert env.expert_action() == "<answer>Tacoma</answer>"
    env.reset(_task(answers=("Chicago",)))
    env.step(env.expert_action())
    assert env.expert_action() == "<answer>unknown</answer>"


def test_oracle_follows_the_expert_queries_then_gives_up():
    retriever = FakeRetriever(PASSAGES[:1])
    env = SearchQAEnv(retriever, topk=1)
    env.reset(_task(answers=("Tacoma",), queries=("Who wrote Dune?", "Frank Herbert")))
    while (action := env.expert_action()) is not None:
        result = env.step(action)
    assert retriever.queries == ["Who wrote Dune?", "Frank Herbert"]
    assert result.info["answer"] == "unknown" and not result.info["won"]


def test_reset_needs_question_and_answers():
    env = SearchQAEnv(FakeRetriever(PASSAGES))
    with pytest.raises(EnvError, match="lacks extra"):
        env.reset(Task("x", "nq"))


# --- twin and spec --------------------------------------------------------------------


def test_twin_is_seeded_and_has_both_question_kinds():
    world = make_world(0)
    assert world == make_world(0) and world != make_world(1)
    assert len(world.passages) == len({p.id for p in world.passages}) > 100
    kinds = {q.question.data_source for q in world.train + world.eval}
    assert kinds == {DIRECT, MULTI_HOP}
    ids = {q.question.qid for q in world.train} & {q.question.qid for q in world.eval}
    assert not ids
    two_hop = next(q for q in world.train if q.question.data_source == MULTI_HOP)
    assert len(two_hop.expert_queries) == 2


def test_spec_values_and_twin_by_default():
    spec = get_env_spec("searchqa")
    assert spec.stop_strings == ("</search>", "</answer>") and spec.max_steps == 4
    assert (spec.success_reward, spec.invalid_penalty) == (1.0, 0.01)
    tasks = spec.eval_tasks({}, 70)
    assert tasks[:64] == spec.eval_tasks({}, 64) and tasks[64] == tasks[0]  # cycles
    train = spec.train_tasks({}, 5, 10)
    assert train == spec.train_tasks({}, 5, 10) and len({t.task_id for t in train}) == 10
    assert all(t.task_type == t.data_source and t.extra["answers"] for t in train)


def test_oracle_solves_the_twin_and_random_mostly_fails():
    oracle = play("searchqa", "oracle", 32)
    assert oracle["success"] == 1.0 and set(oracle["per_task_type"]) == {DIRECT, MULTI_HOP}
    assert play("searchqa", "random", 32, seed=1)["success"] < 0.5


def test_unknown_and_bad_options_are_listed_at_once():
    with pytest.raises(ValueError) as err:
        parse_options({"topk": 0, "retriever": "grep", "colour": 1})
    message = str(err.value)
    assert "topk" in message and "retriever" in message and "colour" in message


def test_missing_data_dir_says_what_to_do(tmp_path):
    with pytest.raises(EnvError, match="corpus.jsonl"):
        get_env_spec("searchqa").eval_tasks({"data_dir": str(tmp_path)}, 1)


# --- question and corpus files --------------------------------------------------------

ROWS = [
    {"id": "a", "question": "Who?", "golden_answers": ["X", "Y"], "data_source": "nq"},
    {"question": " Where? ", "golden_answers": ["Z"], "data_source": "hotpotqa"},
]


def test_jsonl_questions(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    questions = load_questions(path)
    assert questions[0] == Question("a", "Who?", ("X", "Y"), "nq")
    assert questions[1] == Question("1", "Where?", ("Z",), "hotpotqa")


def test_parquet_questions_in_both_search_r1_shapes(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "plain.parquet")
    assert load_questions(tmp_path / "plain.parquet") == load_questions(_jsonl(tmp_path))
    verl = [
        {
            "data_source": "nq",
            "extra_info": {"index": 7, "question": "Who?"},
            "reward_model": {"ground_truth": {"target": ["X"]}, "style": "rule"},
        }
    ]
    pq.write_table(pa.Table.from_pylist(verl), tmp_path / "verl.parquet")
    assert load_questions(tmp_path / "verl.parquet") == [Question("7", "Who?", ("X",), "nq")]


def test_parquet_without_pyarrow_is_one_clear_error(tmp_path, monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args)

    (tmp_path / "q.parquet").write_bytes(b"PAR1")
    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(EnvError, match="pyarrow"):
        load_questions(tmp_path / "q.parquet")


def test_bad_files_are_clear_errors(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"question": "Q"}\n')
    with pytest.raises(EnvError, match="golden_answers"):
        load_questions(tmp_path / "bad.jsonl")
    with pytest.raises(EnvError, match="not found"):
        load_corpus(tmp_path / "none.jsonl")
    (tmp_path / "c.jsonl").write_text('{"id": "0", "body": "x"}\n')
    with pytest.raises(EnvError, match="contents"):
        load_corpus(tmp_path / "c.jsonl")


def _jsonl(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS))
    return path


def test_warm_start_targets_are_valid_search_responses():
    sft = pytest.importorskip("sdar.train.sft")
    for action in ("<search>Who wrote Dune?</search>", "<answer>Frank Herbert</answer>"):
        for think in (True, False):
            response = sft.expert_response("Who wrote Dune?", action, think)
            assert search_project(response, None, think=think) == (action, True)


@pytest.mark.slow
def test_tiny_preset_trains_one_step(tmp_path):
    from sdar.cli import main

    overrides = ["run.steps=1", "sft.episodes=8", "sft.epochs=1", "eval.episodes=4"]
    overrides += ["rollout.tasks_per_step=2", "rollout.group_size=2", "model.tiny_hidden=32"]
    args = ["train", "--preset", "searchqa-tiny-cpu", "--output", str(tmp_path / "run")]
    assert main([*args, "--quiet", *overrides]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["env"], summary["steps"]) == ("searchqa", 1)
    assert summary["eval_after"]["episodes"] == 4
