"""The ``robustlens`` command: ``robustlens <task> [hydra overrides]``.

Each task is a Hydra app whose primary config is ``conf/<task>.yaml``; everything after
the task name is handed to Hydra unchanged (overrides, ``--multirun``, ``--help``,
``--cfg job``, ``-cd <extra config dir>``).
"""

from __future__ import annotations

import sys
from typing import Any

from robustlens.config.errors import (
    CONFIG_ERROR_EXIT,
    StderrTail,
    report_config_errors,
    suggest_key,
    unknown_override_key,
)
from robustlens.tasks.registry import TASKS, task_function

USAGE = """usage: robustlens <task> [overrides ...] [--multirun] [--help]

tasks:
{tasks}

examples:
  robustlens train experiment=quickstart
  robustlens train data=mnist training=pgd_at trainer.max_epochs=5
  robustlens evaluate classifier=buzhinsky_mnist data=mnist evaluation=conventional
  robustlens evaluate --multirun ckpt_path=a.ckpt,b.ckpt evaluation.probes.pgd_linf.attack.eps=0.05,0.1
  robustlens report outputs/evaluate/multiruns/<date>

`robustlens <task> --help` lists the task's config groups and options.
"""


#: Hydra's command-line flags that take a value (``--info`` takes an optional one)
_VALUE_FLAGS = {"-cd", "--config-dir", "-cp", "--config-path", "-cn", "--config-name", "-c", "--cfg",
                "-p", "--package", "--experimental-rerun"}
_INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def split_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """Hydra's flags (with their values) and the other arguments, each in their original order.

    Why: Hydra parses with argparse, which rejects overrides on both sides of a flag
    (``robustlens report <dir> -cd <conf> layout=x``); the CLI passes flags first so users
    need not know that.
    """
    flags: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and "=" not in arg:
            flags.append(arg)
            has_value = i + 1 < len(argv) and (
                arg in _VALUE_FLAGS or (arg == "--info" and argv[i + 1] in _INFO_CHOICES)
            )
            if has_value:
                flags.append(argv[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return flags, rest


def run_hydra_task(task: str, argv: list[str]) -> Any:
    import hydra

    from robustlens.config.locate import config_dir
    from robustlens.config.resolvers import register_resolvers

    register_resolvers()
    flags, rest = split_flags(argv)
    if task == "report":  # `robustlens report <dir> ...`: the bare argument is the run dir
        rest = [a if "=" in a else f"run_dir={a}" for a in rest]
    sys.argv = [f"robustlens {task}", *flags, *rest]
    app = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=task)(
        report_config_errors(task_function(task))
    )
    stderr = sys.stderr
    sys.stderr = tail = StderrTail(stderr)
    try:
        return app()
    except SystemExit as exc:
        if exc.code not in (0, None, CONFIG_ERROR_EXIT):
            _hint_nearest_key(tail.text, task, flags, rest)
        raise
    finally:
        sys.stderr = stderr


def _hint_nearest_key(hydra_message: str, task: str, flags: list[str], overrides: list[str]) -> None:
    """After Hydra refused an override key that does not exist, print the nearest valid key."""
    full_key = unknown_override_key(hydra_message)
    if full_key is None or flags:  # with -cd / --multirun flags the config cannot be recomposed alike
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from robustlens.config.locate import config_dir

    others = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != full_key]
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=task, overrides=others)
    except Exception:  # the hint is a courtesy: never replace Hydra's own message
        return
    hint = suggest_key(cfg, full_key)
    if hint:
        print(f"robustlens: {hint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE.format(tasks="\n".join(f"  {name:<9} {text}" for name, text in TASKS.items())))
        return
    task, rest = argv[0], argv[1:]
    if task not in TASKS:
        print(f"robustlens: unknown task {task!r}; valid tasks: {', '.join(TASKS)}", file=sys.stderr)
        raise SystemExit(2)
    run_hydra_task(task, rest)


if __name__ == "__main__":
    main()
