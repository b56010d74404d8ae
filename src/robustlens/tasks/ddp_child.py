"""Entry point of a DDP child rank: ``python -m robustlens.tasks.ddp_child <task> <resolved config>``.

Runs the same task body as the parent job on the parent's resolved config; Lightning
reads LOCAL_RANK/WORLD_SIZE/MASTER_* from the environment the launcher set.
"""

from __future__ import annotations

import sys

from omegaconf import OmegaConf


def main(argv: list[str]) -> None:
    task, config_path = argv
    from robustlens.config.resolvers import register_resolvers
    from robustlens.tasks.cli import _task_function

    register_resolvers()
    cfg = OmegaConf.load(config_path)
    cfg.extras.print_config = False
    _task_function(task)(cfg)


if __name__ == "__main__":
    main(sys.argv[1:])
