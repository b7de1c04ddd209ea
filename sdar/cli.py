"""The `sdar` command line. The only module that parses arguments, configures logging
and draws progress bars.

    sdar train [--preset NAME] [key=value ...] [--output DIR]   train (default: quickstart)
    sdar train --resume RUN_DIR                                 continue a killed run
    sdar sft [--preset NAME] [key=value ...] --output DIR       behaviour-cloning warm start only
    sdar eval (RUN_DIR | --model NAME) [--preset NAME] [key=value ...]
    sdar presets | sdar methods | sdar envs
    sdar play ENV --agent expert|random|walkthrough --episodes N [--json]
    sdar play searchqa --agent oracle|random [--corpus FILE --questions FILE] [--json]
    sdar play webshop --agent expert|random [--data-dir DIR] [--goals FILE] [--json]
    sdar eval-retriever --corpus FILE --questions FILE [--retriever R] [--topk K] [--json]
    sdar serve-retriever [--corpus FILE] [--port P] [--host 127.0.0.1]
    sdar skills show (--env ENV | --dir BANK) [--task-type T] [--game-file P] [--task TEXT]
                     [--data-source D] [--keyword-match word|substring]
    sdar skills check DIR
    sdar bench [NAME]
    sdar export RUN_DIR --to DIR [--step N] [--merge-lora]      a plain Hugging Face folder
    sdar compare RUN_DIR... [--metric M] [--baseline grpo] [--json] [--out DIR]
                                                                methods over seeds, paired
    sdar sweep --preset P --methods grpo,sdar --seeds 0-4 --out DIR [--jobs N]
               [--share-warm-start] [key=value ...]             train the grid, then compare
    sdar analyze RUN_DIR [--out DIR] [--json]                   token-level gap and gate
                                                                diagnostics (run.token_records)

Data parallel (docs/scaling.md): torchrun --standalone --nproc_per_node N -m sdar train ...
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from sdar import __version__


class Bars:
    """tqdm bars for the phases the library reports through its progress callback."""

    def __init__(self, enabled: bool) -> None:
        from tqdm import tqdm

        self.tqdm, self.enabled = tqdm, enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int, info: dict[str, Any]) -> None:
        if phase in ("rollout", "eval"):
            bar = self.bars.get("step")
            if bar is not None:
                bar.set_postfix_str(f"{phase} turn {done}, {info.get('active', 0)} active")
            elif self.enabled:
                print(
                    f"\r  {phase}: turn {done}, {info.get('active', 0)} episodes active   ",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
            return
        bar = self.bars.get(phase)
        if bar is None:
            desc = {"sft": "warm start (SFT)", "step": "RL steps"}.get(phase, phase)
            bar = self.tqdm(total=total, desc=desc, disable=not self.enabled, dynamic_ncols=True)
            self.bars[phase] = bar
        bar.update(done - bar.n)
        if phase == "sft":
            bar.set_postfix(loss=f"{info['loss']:.3f}")
            if not self.enabled and (done % max(total // 10, 1) == 0 or done == total):
                print(f"warm start (SFT): batch {done}/{total} loss {info['loss']:.3f}", flush=True)
            if done >= total:
                bar.close()
        if phase == "step":
            bar.set_postfix(
                reward=f"{info.get('rollout/reward', 0):.2f}",
                success=f"{info.get('rollout/success', 0):.2f}",
            )
            if not self.enabled:
                print(
                    f"step {done}/{total} reward {info.get('rollout/reward', 0):.3f} "
                    f"success {info.get('rollout/success', 0):.3f} "
                    f"time {info.get('time/step', 0):.1f}s",
                    flush=True,
                )

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f}"


def _rate(summary: dict[str, Any], task_type: str | None) -> str:
    """ "12.5 [6.1, 23.8]": a panel success rate (%) with its 95% Wilson interval."""
    from sdar.train.compare import wilson_interval

    if task_type is None:
        rate, n = summary.get("success"), summary.get("episodes")
    else:
        rate = summary.get("per_task_type", {}).get(task_type)
        n = summary.get("per_task_type_episodes", {}).get(task_type)
    if rate is None:
        return "-"
    if not n:
        return _fmt(rate)
    lo, hi = wilson_interval(round(rate * n), n)
    return f"{100 * rate:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def print_summary(s: dict[str, Any]) -> None:
    before, after = s["eval_before"], s["eval_after"]
    print(f"\n== {s['method']} on {s['env']}: {s['steps']} steps in {s['wall_seconds']:.0f} s ==")
    print(f"{'success (%), 95% interval':<34}{'before':>20}{'after':>20}")
    label = f"overall ({after.get('episodes', '?')} panel episodes)"
    print(f"{label:<34}{_rate(before, None):>20}{_rate(after, None):>20}")
    for t in sorted(set(before.get("per_task_type", {})) | set(after.get("per_task_type", {}))):
        print(f"  {t:<32}{_rate(before, t):>20}{_rate(after, t):>20}")
    if "valid_ratio" in after:
        valid = f"{_fmt(before.get('valid_ratio')):>20}{_fmt(after['valid_ratio']):>20}"
        print(f"{'valid actions (%)':<34}{valid}")
    for agent, ref in s.get("panel_reference", {}).items():
        print(f"{agent + ' agent, same panel':<34}{'':>20}{_rate(ref, None):>20}")
    if "eval_after_with_skills" in s:
        print(
            f"{'overall, with skills in prompt':<34}{'':>8}"
            f"{_fmt(s['eval_after_with_skills']['success']):>8}"
        )
    curve = [r for r in s["reward_curve"] if r is not None]
    if curve:
        k = max(1, len(curve) // 5)
        print(
            f"training reward: first {k} steps {sum(curve[:k]) / k:.2f}, "
            f"last {k} steps {sum(curve[-k:]) / k:.2f}, max {max(curve):.2f}"
        )
    for key in ("sdar/gate_mean", "sdar/gate_active_ratio", "sdar/gap_mean"):
        if key in s:
            v = s[key]
            print(f"{key}: first {v['first']:.3f}, last {v['last']:.3f}, mean {v['mean']:.3f}")
    phases = ", ".join(f"{k.split('/')[1]} {v:.1f}s" for k, v in s["seconds_per_phase"].items())
    print(f"seconds per step: {phases}")
    print(f"run directory: {s['run_dir']}")


def _make_output(run_dir: Path) -> None:
    """Create the run directory before any heavy import, so a bad --output fails fast."""
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(
            f"--output {run_dir} is a file; pass a directory (created if missing)"
        )
    run_dir.mkdir(parents=True, exist_ok=True)


def _os_error_line(exc: OSError, args: argparse.Namespace) -> str:
    """One line for a file-system error: the path, what went wrong, what to do."""
    path = exc.filename or "?"
    run_dir = getattr(args, "run_dir", None)
    if exc.errno == errno.ENOSPC:
        then = (
            f"continue with `sdar train --resume {run_dir}` (its last checkpoint is intact)"
            if run_dir is not None and args.command == "train"
            else "run the command again"
        )
        return f"no space left on device writing {path}; free some space, then {then}"
    if exc.errno == errno.ENOTDIR:
        blocker = next((p for p in Path(path).parents if p.is_file()), Path(path))
        return f"--output {path}: {blocker} is a file, not a directory; pass another --output"
    if exc.errno == errno.EROFS:
        return f"cannot write {path}: read-only file system; pass a writable --output"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied; pass a writable --output"
    return f"{path}: {exc.strerror or exc}; check the path (--output, --resume, data folders)"


def cmd_train(args: argparse.Namespace) -> int:
    from sdar.train.config import config_from_dict, load_config

    if args.resume:
        import yaml

        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(
                f"{run_dir} is not a run directory (no config.yaml); "
                "pass the folder that `sdar train --output` wrote"
            )
        cfg = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    else:
        cfg = load_config(args.preset, args.overrides)
        run_dir = Path(
            args.output
            or cfg.run.output
            or f"runs/{cfg.preset}-{cfg.algo.method}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        if (run_dir / "checkpoints" / "LATEST").exists():
            raise FileExistsError(
                f"{run_dir} already holds a run; continue it with "
                f"`sdar train --resume {run_dir}` or pick another --output"
            )
    from sdar.train.dist import init_distributed
    from sdar.train.loop import Trainer  # torch and transformers: only for a valid config

    dist = init_distributed(cfg.model.device)  # one process without torchrun's variables
    try:
        run_dir = Path(dist.broadcast_object(str(run_dir)))  # rank 0's timestamped name
        if dist.is_main and not args.resume:
            _make_output(run_dir)
        args.run_dir = run_dir
        _threads(cfg.run.threads)
        bars = Bars(sys.stderr.isatty() and not args.quiet and dist.is_main)
        if dist.is_main:
            world = f", {dist.world} processes ({dist.backend})" if dist.enabled else ""
            print(
                f"sdar {__version__}: {cfg.algo.method} on {cfg.env.name} "
                f"({cfg.preset or 'custom'}), {cfg.run.steps} steps{world} -> {run_dir}",
                flush=True,
            )
        try:
            trainer = Trainer(cfg, run_dir, dist=dist, progress=bars)
            summary = trainer.run(resume=bool(args.resume))
        finally:
            bars.close()
        if dist.is_main:
            print_summary(summary)
    finally:
        dist.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sdar.train.export import export_run

    out = export_run(Path(args.run_dir), Path(args.to), step=args.step, merge_lora=args.merge_lora)
    print(f"exported {out['checkpoint']} -> {out['to']} ({out['kind']})")
    return 0


def _compare_command(args: argparse.Namespace) -> str:
    """The command line that reproduces a comparison (for report.md)."""
    import shlex

    if args.command == "sweep":
        words = ["sdar", "sweep", "--preset", args.preset, "--methods", args.methods]
        words += ["--seeds", args.seeds, "--out", args.out]
        words += [f"--jobs={args.jobs}"] if args.jobs != 1 else []
        words += ["--share-warm-start"] if args.share_warm_start else []
        words += args.overrides
    else:
        words = ["sdar", "compare", *args.run_dirs]
        words += ["--out", args.out] if args.out else []
    return shlex.join([*words, "--metric", args.metric, "--baseline", args.baseline])


def cmd_compare(args: argparse.Namespace) -> int:
    from sdar.train.compare import compare_dirs, format_text

    report = compare_dirs(
        args.run_dirs,
        metric=args.metric,
        baseline=args.baseline,
        out=args.out,
        command=_compare_command(args),
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_text(report))
        if args.out:
            print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from sdar.train.compare import compare_dirs, format_text, method_overrides, parse_seeds, sweep
    from sdar.train.config import load_config

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    seeds = parse_seeds(args.seeds)
    for method in methods:  # a bad method or key fails here, before the first run
        load_config(args.preset, [*args.overrides, *method_overrides(method)])
    records = sweep(
        args.preset,
        methods,
        seeds,
        args.out,
        args.overrides,
        jobs=args.jobs,
        share_warm_start=args.share_warm_start,
    )
    for r in records:
        status = "" if r["returncode"] == 0 else f" (failed, exit {r['returncode']})"
        print(f"{r['run_dir']}: {r['action']}{status}", flush=True)
    report = compare_dirs(
        [args.out],
        metric=args.metric,
        baseline=args.baseline,
        out=args.out,
        command=_compare_command(args),
        expected=[(m, s) for m in methods for s in seeds],
    )
    print(format_text(report))
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0 if all(r["returncode"] == 0 for r in records) else 1


def cmd_analyze(args: argparse.Namespace) -> int:
    from sdar.train.analyze import write_analysis

    report = write_analysis(args.run_dir, args.out)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        gap, ctx = report["gap"], report["teacher_context"]
        print(
            f"{report['records']} records, {report['tokens']} tokens: mean gap "
            f"{gap['mean']:.4f}, negative share {gap['negative_share']:.4f}, gate mean "
            f"{report['gate']['mean']:.4f}; {ctx['distinct']} distinct privileged text(s)"
        )
        print(f"report: {Path(report['out']) / 'analysis.md'}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from sdar.train.config import load_config
    from sdar.train.loop import Trainer

    cfg = load_config(args.preset, args.overrides + ["run.steps=0"])
    run_dir = Path(args.output)
    bars = Bars(sys.stderr.isatty())
    try:
        summary = Trainer(cfg, run_dir, progress=bars).run()
    finally:
        bars.close()
    print(
        f"warm-started policy: {run_dir / 'base_model'} "
        f"(panel success {summary['eval_after']['success']:.3f})"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from sdar.train.eval_run import evaluate_checkpoint

    run_dir, overrides = args.run_dir, list(args.overrides)
    if args.model and run_dir and "=" in run_dir and not Path(run_dir).exists():
        # `sdar eval --model M key=value`: the first override lands in the run_dir slot
        run_dir, overrides = None, [run_dir, *overrides]
    result = evaluate_checkpoint(
        run_dir,
        model=args.model,
        preset=args.preset,
        overrides=overrides,
        with_skills=args.with_skills,
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(f"success {100 * result['success']:.1f}% over {result['episodes']} episodes")
        for t, v in sorted(result["per_task_type"].items()):
            print(f"  {t:<32}{100 * v:6.1f}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from sdar.train.config import list_presets

    for name, description in list_presets():
        print(f"{name:<28} {description}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from sdar.train.methods import METHODS

    for m in METHODS.values():
        print(f"{m.name:<14} {m.summary}")
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from sdar.envs.registry import list_envs

    for name, description in list_envs():
        print(f"{name:<12} {description}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from sdar.envs.play import play

    bars = Bars(sys.stderr.isatty() and not args.json)
    options = _json_options(args.options) if args.options else None
    for key in ("corpus", "questions", "goals"):
        if getattr(args, key):
            options = {**(options or {}), key: getattr(args, key)}

    finished = [0]

    def on_episode(record: dict[str, Any]) -> None:
        finished[0] += 1
        bars("episodes", finished[0], args.episodes, {})

    try:
        result = play(
            args.env,
            args.agent,
            args.episodes,
            options=options,
            split=args.split,
            data_dir=args.data_dir,
            seed=args.seed,
            num_workers=args.workers,
            reset_timeout=args.reset_timeout,
            on_episode=on_episode,
        )
    finally:
        bars.close()
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.env} / {args.agent}: success {100 * result['success']:.1f}% over "
        f"{result['episodes']} episodes, {result['steps_per_second']:.0f} steps/s"
    )
    if result["worker_errors"]:
        print(
            f"  {result['worker_errors']} episodes ended by an env worker failure (counted as "
            f"lost): {', '.join(result['worker_error_tasks'])}"
        )
    if "score" in result:
        print(f"  mean score {100 * result['score']:.1f} (WebShop's Score)")
    for t, v in sorted(result["per_task_type"].items()):
        print(f"  {t:<32}{100 * v:6.1f}")
    return 0


def _json_options(raw: str) -> dict[str, Any]:
    """``--options`` as a dict, or a ValueError naming the flag and the expected form."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at character {exc.pos})"
    else:
        if isinstance(value, dict):
            return value
        problem = f"a JSON {type(value).__name__}, not an object"
    raise ValueError(
        f"--options {raw!r} is {problem}; expected a JSON object of family options, "
        """e.g. --options '{"preset": "tiny"}'"""
    )


def _searchqa_retriever(args: argparse.Namespace) -> Any:
    from sdar.envs.searchqa.backend import corpus_retriever

    return corpus_retriever(args.retriever, args.corpus, url=args.url, index_dir=args.index_dir)


def cmd_eval_retriever(args: argparse.Namespace) -> int:
    from sdar.envs.searchqa.data import load_questions
    from sdar.envs.searchqa.recall import retrieval_recall

    questions = load_questions(args.questions)
    result = retrieval_recall(_searchqa_retriever(args), questions, args.topk)
    result["retriever"] = args.retriever
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"recall@{args.topk} {result['recall']:.3f} over {result['questions']} questions")
    for source, value in result["per_data_source"].items():
        print(f"  {source:<24}{value:6.3f}")
    return 0


def cmd_serve_retriever(args: argparse.Namespace) -> int:
    from sdar.envs.searchqa.remote import make_server

    server = make_server(_searchqa_retriever(args), args.host, args.port)
    host, port = server.server_address[:2]
    where = f"http://{host}:{port}/retrieve"
    print(f"serving {args.corpus or 'the built-in twin'} on {where}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_skills(args: argparse.Namespace) -> int:
    from sdar.skills.report import check_bank, show_privileged

    if args.skills_command == "show":
        print(
            show_privileged(
                args.env,
                task_type=args.task_type,
                task=args.task,
                data_source=args.data_source,
                game_file=args.game_file,
                strategy=args.strategy,
                bank_dir=args.dir,
                keyword_match=args.keyword_match,
                seed=args.seed,
            )
        )
    else:
        print(json.dumps(check_bank(args.dir), indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import pkgutil

    import sdar.bench

    scripts = sorted(m.name for m in pkgutil.iter_modules(sdar.bench.__path__))
    if not args.name:
        print("benchmarks (run one with `sdar bench NAME`):")
        for name in scripts:
            print(f"  {name}")
        return 0
    if args.name not in scripts:
        raise ValueError(f"unknown benchmark {args.name!r}; available: {', '.join(scripts)}")
    sys.argv = [f"sdar bench {args.name}", *args.bench_args]
    runpy.run_module(f"sdar.bench.{args.name}", run_name="__main__")
    return 0


def _quiet_libraries() -> None:
    """Our own bars replace transformers' per-shard load/save bars."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _threads(n: int) -> None:
    if n > 0:
        import torch

        torch.set_num_threads(n)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sdar", description="Self-Distilled Agentic RL.")
    p.add_argument("--version", action="version", version=f"sdar {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a policy (default: the quickstart preset)")
    t.add_argument("--preset", default="quickstart", help="a name from `sdar presets` or a YAML")
    t.add_argument("--output", help="run directory (default runs/<preset>-<method>-<time>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. algo.method=grpo")
    t.set_defaults(func=cmd_train)
    s = sub.add_parser("sft", help="behaviour cloning on expert trajectories only")
    s.add_argument("--preset", default="quickstart")
    s.add_argument("--output", required=True)
    s.add_argument("overrides", nargs="*")
    s.set_defaults(func=cmd_sft)
    e = sub.add_parser("eval", help="evaluate a run's policy or a base model on the panel")
    e.add_argument("run_dir", nargs="?", help="a run directory (its latest checkpoint)")
    e.add_argument("--model", help="a model name or folder instead of a run")
    e.add_argument("--preset", default="quickstart")
    e.add_argument("--with-skills", action="store_true", help="skills in the student prompt")
    e.add_argument("--json", action="store_true")
    e.add_argument("overrides", nargs="*")
    e.set_defaults(func=cmd_eval)
    for name, func, text in (
        ("presets", cmd_presets, "list the presets"),
        ("methods", cmd_methods, "list the methods"),
        ("envs", cmd_envs, "list the environments"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=func)
    pl = sub.add_parser("play", help="play episodes with a scripted agent")
    pl.add_argument("env")
    pl.add_argument("--agent", default="expert", help="expert (oracle), random or walkthrough")
    pl.add_argument("--episodes", type=int, default=20)
    pl.add_argument("--split")
    pl.add_argument("--data-dir")
    pl.add_argument("--seed", type=int, default=0)
    pl.add_argument("--workers", type=int, default=0, help="environment worker processes")
    pl.add_argument(
        "--reset-timeout",
        type=float,
        default=120.0,
        help="seconds a reset may take in a worker; a game over it twice is skipped, reported",
    )
    pl.add_argument("--options", help='family options as JSON, e.g. \'{"preset": "tiny"}\'')
    pl.add_argument("--json", action="store_true", help="one JSON object on stdout")
    pl.add_argument("--corpus", help="searchqa: corpus jsonl (option corpus)")
    pl.add_argument("--questions", help="searchqa: questions jsonl/parquet (option questions)")
    pl.add_argument("--goals", help="webshop: goals jsonl, synthetic or human (option goals)")
    pl.set_defaults(func=cmd_play)
    er = sub.add_parser("eval-retriever", help="searchqa: answer recall@k of a retriever")
    er.add_argument("--questions", required=True, help="questions jsonl or parquet")
    er.add_argument("--topk", type=int, default=3)
    er.add_argument("--json", action="store_true", help="one JSON object on stdout")
    er.set_defaults(func=cmd_eval_retriever)
    sr = sub.add_parser("serve-retriever", help="searchqa: serve an index as Search-R1's API")
    sr.add_argument("--host", default="127.0.0.1")
    sr.add_argument("--port", type=int, default=8000)
    sr.set_defaults(func=cmd_serve_retriever)
    for parser in (er, sr):
        parser.add_argument("--corpus", help="corpus jsonl (default: the built-in twin)")
        parser.add_argument("--retriever", default="bm25", help="bm25, dense or http")
        parser.add_argument("--url", default="http://127.0.0.1:8000/retrieve", help="for http")
        parser.add_argument("--index-dir", help="index cache folder")
    sk = sub.add_parser("skills", help="inspect SkillBanks and the teacher's privileged text")
    sks = sk.add_subparsers(dest="skills_command", required=True)
    show = sks.add_parser("show", help="print the privileged text the teacher would get")
    show.add_argument("--env", help="use the bank shipped for this env")
    show.add_argument("--dir", help="a bank folder (e.g. the authors' skills/<env>)")
    show.add_argument("--task-type")
    show.add_argument("--game-file", help="an ALFWorld game path (routes by substring)")
    show.add_argument("--task", help="the text keywords match: a goal, or a whole prompt")
    show.add_argument("--data-source", help="Search-QA routing (with --task: the question)")
    show.add_argument("--strategy", default="keyword")
    show.add_argument("--keyword-match", choices=("word", "substring"), default="word")
    show.add_argument("--seed", type=int, default=0)
    check = sks.add_parser("check", help="validate a SkillBank folder")
    check.add_argument("dir")
    sk.set_defaults(func=cmd_skills)
    x = sub.add_parser("export", help="write a run's checkpoint as a plain Hugging Face folder")
    x.add_argument("run_dir", help="a run directory (sdar train --output)")
    x.add_argument("--to", required=True, help="the folder to write")
    x.add_argument("--step", type=int, default=None, help="a checkpoint step (default: latest)")
    x.add_argument(
        "--merge-lora", action="store_true", help="LoRA runs: merge the adapters into the weights"
    )
    x.set_defaults(func=cmd_export)
    b = sub.add_parser("bench", help="run a benchmark (a module of sdar.bench)")
    b.add_argument("name", nargs="?")
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    b.set_defaults(func=cmd_bench)
    c = sub.add_parser("compare", help="compare methods over seeds: intervals, paired diffs")
    c.add_argument("run_dirs", nargs="+", help="run directories, or folders of them (a sweep)")
    c.add_argument("--out", help="write report.md and PNG plots to this folder")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    sw = sub.add_parser("sweep", help="train methods x seeds one after another, then compare")
    sw.add_argument("--preset", default="quickstart")
    sw.add_argument("--methods", default="grpo,sdar", help="comma-separated, e.g. grpo,sdar")
    sw.add_argument("--seeds", default="0-4", help="a range 0-4 or a list 0,2,5")
    sw.add_argument("--out", required=True, help="the sweep folder: one run dir per run")
    sw.add_argument(
        "--jobs", type=int, default=1, help="runs at once (each gets cores/jobs threads)"
    )
    sw.add_argument(
        "--share-warm-start",
        action="store_true",
        help="one warm start per seed (OUT/warm-starts), shared by every method of that seed",
    )
    sw.add_argument("overrides", nargs="*", help="key=value overrides for every run")
    for parser in (c, sw):
        parser.add_argument(
            "--metric",
            default="eval_after.success",
            help="eval_after.success (final), best.success (best step) or a summary.json path",
        )
        parser.add_argument("--baseline", default="grpo", help="the method paired against")
    c.set_defaults(func=cmd_compare)
    sw.set_defaults(func=cmd_sweep)
    an = sub.add_parser("analyze", help="token-level gap and gate diagnostics of a run")
    an.add_argument("run_dir", help="a run trained with run.token_records > 0")
    an.add_argument("--out", help="write analysis.md and PNG plots here (default RUN_DIR/analysis)")
    an.add_argument("--json", action="store_true", help="one JSON object on stdout")
    an.set_defaults(func=cmd_analyze)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _quiet_libraries()
    if args.command is None:
        parser.print_help()
        return 0
    from sdar.envs.base import EnvError
    from sdar.train.config import SdarConfigError

    try:
        return args.func(args)
    except SdarConfigError as exc:  # one line per bad key
        if args.verbose:
            raise
        for line in str(exc).splitlines():
            print(f"sdar {args.command}: error: {line}", file=sys.stderr)
        return 2
    except OSError as exc:
        # Our own FileNotFoundError/FileExistsError carry a message and no errno; the
        # system's (no space, read-only, a file in the way) get one line naming the path.
        if args.verbose:
            raise
        line = str(exc) if exc.errno is None else _os_error_line(exc, args)
        print(f"sdar {args.command}: error: {line}", file=sys.stderr)
        return 2
    except (ValueError, EnvError) as exc:
        # Our boundary errors (config, model, environment, skill bank) say what to do.
        if args.verbose:
            raise
        print(f"sdar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"sdar {args.command}: interrupted; a training run continues with "
            "`sdar train --resume RUN_DIR`",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
