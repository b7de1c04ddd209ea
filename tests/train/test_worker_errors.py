"""Episodes ended by an env worker failure stay out of GRPO group statistics (issue 16, 9)."""

from __future__ import annotations

import pytest
import torch

from sdar import algos
from sdar.envs.base import Task
from sdar.envs.household.spec import SPEC
from sdar.rollout.types import PromptState, StepSample, Trajectory
from sdar.train.loop import assign_scores, compute_advantages

TASK = Task(task_id="t", task_type="x")


def trajectory(traj: int, group: int, won: bool, valid: list[bool], error: str | None = None):
    t = Trajectory(group=group, traj=traj, task=TASK, won=won, error=error, info={"won": won})
    for i, v in enumerate(valid):
        state = PromptState("goal", "obs", None, [], i)
        t.samples.append(
            StepSample(group, traj, i, TASK, state, [1], [2], [0.0], "", "a", v, 0.0, False)
        )
    return t


@pytest.mark.parametrize("mode", ["step", "trajectory"])
def test_worker_failed_episodes_get_no_advantage_and_do_not_move_the_baseline(mode):
    kept = [trajectory(0, 0, True, [True, False]), trajectory(1, 0, False, [True, True, True])]
    lost = trajectory(2, 0, False, [True], error="env worker hung")
    trajs = [kept[0], lost, kept[1]]
    samples = assign_scores(trajs, SPEC, 10.0, 0.1)
    adv = compute_advantages(samples, trajs, mode, True)
    lost_rows = [i for i, s in enumerate(samples) if s.traj == 2]
    assert adv[lost_rows].abs().sum() == 0
    # The others' advantages equal those of the same batch without the failed episode.
    kept_samples = [s for s in samples if s.traj != 2]
    alone = compute_advantages(kept_samples, kept, mode, True)
    rows = [i for i, s in enumerate(samples) if s.traj != 2]
    torch.testing.assert_close(adv[rows], alone)


def test_a_group_of_only_failed_episodes_gives_zeros():
    trajs = [trajectory(i, 0, False, [True], error="died") for i in range(2)]
    samples = assign_scores(trajs, SPEC, 10.0, 0.1)
    assert compute_advantages(samples, trajs, "step", True).tolist() == [0.0, 0.0]
    assert algos.grpo_advantages(torch.zeros(0), []).shape == (0,)


def test_run_config_reaches_the_envs():
    """env.reset_timeout bounds resets; a teacher shown the plan asks ALFWorld for it."""
    from sdar.train.config import load_config
    from sdar.train.setup import env_parts, make_venv

    cfg = load_config("tiny", ["env.reset_timeout=7", "teacher.privileged=[skills,expert_plan]"])
    spec, options = env_parts(cfg)
    assert options["expert_plan"] is True
    with make_venv(cfg, spec, options, 1) as venv:
        assert venv.reset_timeout == 7.0
    assert "expert_plan" not in env_parts(load_config("tiny"))[1]
