"""Entry point of a DDP child rank: ``python -m robustlens.tasks.ddp_child <task> <resolved config>``.

Runs the same task body as the parent job on the parent's resolved config; Lightning
reads LOCAL_RANK/WORLD_SIZE/MASTER_* from the environment the launcher set.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    task, config_path = argv
    from robustlens.config.resolvers import register_resolvers
    from robustlens.config.saved import load_resolved_config
    from robustlens.tasks.registry import task_function

    register_resolvers()
    cfg = load_resolved_config(config_path)
    cfg.extras.print_config = False
    task_function(task)(cfg)


if __name__ == "__main__":
    main(sys.argv[1:])
