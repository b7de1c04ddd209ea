"""The behaviour-cloning warm start: sft.prompt_loss, sft.invalid_noise and sft.schedule."""

import pytest
import torch

from sdar.models.logprobs import collate, response_logprobs
from sdar.models.tiny import build_tiny_model, build_word_tokenizer
from sdar.train.config import load_config
from sdar.train.sft import _logprobs_with_prompt_nll, lr_factor, train_sft

TEXTS = ["you see a desk 1 and a shelf 2", "go to desk 1", "go to shelf 2", "<action> </action>"]


def _setup():
    tok = build_word_tokenizer(TEXTS)
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, seed=0)
    enc = lambda t: tok.encode(t, add_special_tokens=False)  # noqa: E731
    examples = [
        (enc("you see a desk 1 and a shelf 2"), enc("<action> go to shelf 2 </action>")),
        (enc("a shelf 2"), enc("<action> go to desk 1 </action>")),
    ]
    return tok, model, examples


def test_prompt_nll_matches_a_direct_computation_and_response_logprobs_are_unchanged():
    tok, model, examples = _setup()
    batch = collate([p for p, _ in examples], [r for _, r in examples], tok.pad_token_id)
    with torch.no_grad():
        lp, nll = _logprobs_with_prompt_nll(model, batch)
        ref, _ = response_logprobs(model, batch)
        torch.testing.assert_close(lp, ref)
        # direct: the unpadded prompts one at a time, mean over all predicted prompt tokens
        total, count = 0.0, 0
        for prompt, _ in examples:
            ids = torch.tensor([prompt])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
            total -= logp.gather(-1, ids[0, 1:, None]).sum().item()
            count += len(prompt) - 1
    assert (
        nll.item() == torch.tensor(total / count).item() or abs(nll.item() - total / count) < 1e-5
    )


def test_cosine_schedule_warms_up_then_decays_to_a_tenth():
    f = lr_factor("cosine", 200)
    values = [f(i) for i in range(200)]
    peak = values.index(max(values))
    assert peak == 9 and values[peak] == 1.0  # warm-up: the first 5% of batches
    assert all(a < b for a, b in zip(values[:peak], values[1 : peak + 1], strict=True))
    assert all(a >= b for a, b in zip(values[peak:-1], values[peak + 1 :], strict=True))
    assert values[-1] == pytest.approx(0.1)
    assert values[peak + 95] == pytest.approx(0.55, abs=0.01)  # half-way down the cosine
    assert {lr_factor("constant", 200)(i) for i in range(200)} == {1.0}
    with pytest.raises(ValueError, match="sft.schedule"):
        lr_factor("linear", 10)


def test_sft_schedule_is_checked_at_load_time_and_changes_training():
    with pytest.raises(ValueError, match="sft.schedule"):
        load_config("tiny", ["sft.schedule=linear"])
    assert load_config("tiny", ["sft.schedule=cosine"]).sft.schedule == "cosine"
    constant, _, _ = _train(0.0)
    cosine, _, _ = _train(0.0, schedule="cosine")
    assert constant[0] == cosine[0]  # same first batch and weights; the lr differs after
    assert cosine != constant and cosine[-1] < cosine[0]


def _train(prompt_loss, schedule="constant"):
    tok, model, examples = _setup()
    batch = collate([p for p, _ in examples], [r for _, r in examples], tok.pad_token_id)
    with torch.no_grad():
        before = _logprobs_with_prompt_nll(model, batch)[1].item()
    losses = train_sft(
        model,
        examples,
        pad_id=tok.pad_token_id,
        device=torch.device("cpu"),
        epochs=20,
        lr=1e-2,
        batch_size=2,
        seed=0,
        prompt_loss=prompt_loss,
        schedule=schedule,
    )
    with torch.no_grad():
        after = _logprobs_with_prompt_nll(model, batch)[1].item()
    return losses, before, after


def test_prompt_loss_trains_the_prompt_and_reports_the_response_loss():
    with_pl, before, after = _train(1.0)
    without, before0, after0 = _train(0.0)
    assert before == before0  # same initial weights
    # the prompt is learnt only with the prompt loss
    assert after < 0.5 * before and after < 0.5 * after0
    # the reported loss is the response part: the same first value with and without
    assert with_pl[0] == without[0]
    assert with_pl[-1] < with_pl[0]


def expert_steps(n_tasks: int, history_length: int, **options):
    """`collect_expert_steps` on ``n_tasks`` tiny household tasks, no noise unless asked."""
    from sdar.envs.registry import get_env_spec
    from sdar.envs.vector import VectorEnv
    from sdar.train.sft import collect_expert_steps

    spec = get_env_spec("household")
    env_options = {"preset": "tiny", "max_steps": 10}
    tasks = spec.train_tasks(env_options, 0, n_tasks)
    with VectorEnv(spec, env_options, len(tasks)) as venv:
        return collect_expert_steps(
            spec,
            venv,
            tasks,
            lambda i, t, info: "",
            history_length=history_length,
            noise=0.0,
            seed=0,
            **options,
        )


def test_invalid_noise_takes_stale_actions_and_trains_only_on_expert_ones():
    clean, _ = expert_steps(8, 1, invalid_noise=0.0)
    noisy, seen = expert_steps(8, 1, invalid_noise=0.5)
    assert not any("Nothing happens" in s.state.observation for s in clean)
    after_mistake = [s for s in noisy if "Nothing happens" in s.state.observation]
    assert after_mistake, "a stale action must lead to 'Nothing happens.'"
    # the step after a mistake shows it in the history, and its target is the expert's
    # action, which is admissible there
    for s in after_mistake:
        assert s.state.history and s.action in s.state.admissible
        assert s.state.history[-1][1] not in s.state.admissible
    assert all(s.action in s.state.admissible for s in noisy)


def test_goal_names_type_matches_whole_words():
    from sdar.train.sft import goal_names_type

    assert goal_names_type("put some alarmclock on dresser.", "dresser 1")
    assert not goal_names_type("put some alarmclock on dresser.", "desk 1")
    assert not goal_names_type("put a pan in the sinkbasin.", "sink 1")  # not a prefix match
    assert goal_names_type("look at the CD under the desklamp", "desklamp 1")


def test_search_action_keeps_explained_steps_and_randomises_hidden_ones():
    import random

    from sdar.train.sft import search_action

    goal = "put some alarmclock on dresser."
    adm = ["examine desk 1", "go to drawer 1", "go to drawer 2", "go to dresser 1", "look"]
    rng = random.Random(0)
    # explained by the prompt: the destination, and anything but a go to
    assert search_action(goal, "go to dresser 1", adm, rng) == "go to dresser 1"
    assert search_action(goal, "take alarmclock 1 from desk 1", adm, rng).startswith("take")
    # a go to towards a hidden object: a random admissible go to, never the destination
    picks = {search_action(goal, "go to sidetable 1", adm, rng) for _ in range(50)}
    assert picks == {"go to drawer 1", "go to drawer 2"}
    # nothing else to go to: the expert's step stays
    assert search_action(goal, "go to desk 1", ["go to dresser 1"], rng) == "go to desk 1"


def test_random_search_demonstrations_are_admissible_and_trained_on():
    from sdar.train.sft import goal_names_type

    def collect(search):
        return expert_steps(16, 0, search=search)[0]

    oracle, searched = collect("oracle"), collect("random")
    assert all(s.action in s.state.admissible for s in searched)
    go = [s for s in searched if s.action.startswith("go to ")]
    # every go to either names the goal's receptacle type or is a search step
    hidden = [s for s in go if not goal_names_type(s.state.goal, s.action[6:])]
    assert hidden and len({s.action for s in hidden}) > 3
    # searching takes more steps than knowing where things are
    assert len(searched) > len(oracle)
    with pytest.raises(ValueError, match="search"):
        collect("psychic")
