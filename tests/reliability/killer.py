"""Run the `sdar` CLI and SIGKILL it at a chosen point: a deterministic kill -9.

    python killer.py PHASE N  train --resume RUN_DIR ...

PHASE is where the process kills itself, at the N-th time (1-based) it gets there:

* ``sft``: after the N-th SFT batch of the warm start;
* ``rollout``, ``score``, ``update``: right after the N-th training rollout, scoring pass
  or policy update returns (its results exist only in memory);
* ``save``: inside the N-th checkpoint write, with ``state.pt`` half written;
* ``latest``: inside the N-th checkpoint write, after the checkpoint folder is in place
  and before LATEST points at it.

The stage functions are wrapped wherever a module under ``sdar.train`` holds them, so the
hook follows them if the loop is reorganised. SIGKILL leaves no chance to clean up, as
``kill -9`` from outside would, but at a known point instead of after a sleep.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

STAGES = {"rollout": "run_episodes", "score": "score_samples", "update": "update_policy"}


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def wrap_everywhere(name: str, make_wrapper) -> None:
    importlib.import_module("sdar.train.loop")
    targets = [m for k, m in list(sys.modules.items()) if k.startswith("sdar.train") and m]
    originals = {getattr(m, name) for m in targets if callable(getattr(m, name, None))}
    if len(originals) != 1:
        raise SystemExit(f"killer: expected one {name} under sdar.train, found {originals}")
    wrapped = make_wrapper(originals.pop())
    for module in targets:
        if hasattr(module, name):
            setattr(module, name, wrapped)


def main() -> None:
    phase, n, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    calls = [0]

    def count() -> bool:
        calls[0] += 1
        return calls[0] == n

    if phase in STAGES:

        def after_call(original):
            def wrapper(*args, **kwargs):
                out = original(*args, **kwargs)
                if count():
                    die()
                return out

            return wrapper

        wrap_everywhere(STAGES[phase], after_call)
    elif phase == "sft":

        def with_progress(original):
            def wrapper(*args, **kwargs):
                inner = kwargs.get("progress")

                def progress(i, total, loss):
                    if inner is not None:
                        inner(i, total, loss)
                    if count():
                        die()

                return original(*args, **{**kwargs, "progress": progress})

            return wrapper

        wrap_everywhere("train_sft", with_progress)
    elif phase == "save":
        import torch

        from sdar.train import checkpoint

        real_save = torch.save

        def half_save(obj, f, *args, **kwargs):
            if not count():
                return real_save(obj, f, *args, **kwargs)
            real_save(obj, f, *args, **kwargs)
            with open(f, "r+b") as handle:  # a torn write: only the first half reached disk
                handle.truncate(os.path.getsize(f) // 2)
            die()

        checkpoint.torch.save = half_save
    elif phase == "latest":
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if os.path.basename(str(dst)) == "LATEST" and count():
                die()
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
    else:
        raise SystemExit(f"killer: unknown phase {phase!r}")
    from sdar.cli import main as cli_main

    sys.exit(cli_main(argv))


if __name__ == "__main__":
    main()
