"""DDP that survives Hydra multiruns (Lightning #11300, Hydra #2070).

Lightning starts DDP child ranks by re-running the parent's command line; under a Hydra
``--multirun`` that command expands the whole sweep again in every child. Here child
ranks are started from the *job's saved, resolved config*
(``<output_dir>/config_resolved.yaml``, written by the task wrapper) with
``python -m robustlens.tasks.ddp_child <task> <config>``: they run exactly the parent's
job and nothing else. Under SLURM (or torchrun) the cluster starts every rank itself and
Lightning's own environment detection takes over (no launcher involved).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from robustlens.config.saved import RESOLVED_CONFIG_NAME

log = logging.getLogger("robustlens")


class DDPRankDiedError(RuntimeError):
    """A child rank of this job's DDP group exited abnormally; the job stops, the sweep goes on."""


class _FailJobObserver(_ChildProcessObserver):
    """Lightning's child-process observer, except that a dead rank fails *this job* instead of SIGKILLing
    the main process — which, in a multirun, is the whole sweep (Lightning's behaviour: "Forcefully
    terminating all other processes"). The other children are killed, then the main thread is interrupted
    (SIGALRM to it; the handler raises :class:`DDPRankDiedError`, also out of a blocking collective), so the
    task wrapper records the failure with its message and the next job of the sweep starts."""

    def __init__(self, *args: Any, launch: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.launch = launch

    def _terminate_all(self) -> None:
        if _active_launch != self.launch:
            # the job already ended (a collective failed first, e.g. gloo's "connection closed by peer"):
            # interrupting now would fail the *next* job of the sweep
            return
        dead = [(i + 1, p.pid, p.returncode) for i, p in enumerate(self._child_processes) if p.returncode]
        for proc in self._child_processes:
            if proc.poll() is None:
                proc.send_signal(self._termination_signal)
        rank, pid, code = dead[0] if dead else (0, 0, 0)
        message = (f"DDP rank {rank} (pid {pid}) exited with code {code} during the job; the job is stopped "
                   "(its finished probes/epochs are kept: re-run the command to resume)")
        log.error(message)
        _RANK_DIED.append(message)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)


_RANK_DIED: list[str] = []
#: the launch whose ranks are running (None between jobs): a late observer signal never reaches another job
_active_launch: int | None = None
_launches = 0


def _raise_rank_died(signum: int, frame: Any) -> None:
    if _active_launch is None:
        return  # delivered after its job ended: nothing left to stop
    raise DDPRankDiedError(_RANK_DIED[-1] if _RANK_DIED else "a DDP rank died")


def _current_job() -> tuple[str, Path]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        raise RuntimeError(
            "HydraSafeDDPStrategy launches child ranks from a Hydra job's saved config; outside "
            "`robustlens <task>` use Lightning's plain `strategy=ddp`"
        )
    hc = HydraConfig.get()
    config = Path(hc.runtime.output_dir) / RESOLVED_CONFIG_NAME
    if not config.is_file():
        raise RuntimeError(f"the job's resolved config {config} is missing; it is written by the task wrapper")
    return str(hc.job.config_name), config


_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
#: the DDP variables as they were before this process launched child ranks (None: not launched)
_env_before_launch: dict[str, str | None] | None = None


def reset_ddp_environment() -> None:
    """End the job's process group and undo the launcher's environment (parent process only).

    Why: the launcher marks the parent as rank 0 through environment variables. In a multirun
    the next job runs in the same process; left set, they would make Lightning believe the
    ranks already exist and wait for children that have exited with the previous job.
    """
    global _env_before_launch, _active_launch
    _active_launch = None
    if _env_before_launch is None:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key, value in _env_before_launch.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _env_before_launch = None


class SavedConfigLauncher(_SubprocessScriptLauncher):
    """Starts ranks 1..N-1 as ``robustlens.tasks.ddp_child`` processes on the saved job config."""

    def launch(self, function: Any, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGALRM, _raise_rank_died)
            _FailJobObserver(child_processes=self.procs, main_pid=os.getpid(), launch=_active_launch).start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)

    def _call_children_scripts(self) -> None:
        global _env_before_launch, _active_launch, _launches
        self._check_can_spawn_children()
        _launches += 1
        _active_launch = _launches
        self.procs = []
        _env_before_launch = {key: os.environ.get(key) for key in _DDP_ENV}
        os.environ["MASTER_ADDR"] = self.cluster_environment.main_address
        os.environ["MASTER_PORT"] = str(self.cluster_environment.main_port)
        os.environ["NODE_RANK"] = str(self.cluster_environment.node_rank())
        os.environ["LOCAL_RANK"] = str(self.cluster_environment.local_rank())
        os.environ["WORLD_SIZE"] = f"{self.num_processes * self.num_nodes}"
        task, config = _current_job()
        command = [sys.executable, "-m", "robustlens.tasks.ddp_child", task, str(config)]
        for local_rank in range(1, self.num_processes):
            env = os.environ.copy()
            env["LOCAL_RANK"] = str(local_rank)
            if os.environ.get("PL_GLOBAL_SEED") is None:
                env.pop("PL_GLOBAL_SEED", None)
            self.procs.append(subprocess.Popen(command, env=env, cwd=os.getcwd()))


class HydraSafeDDPStrategy(DDPStrategy):
    """Lightning's DDP strategy with :class:`SavedConfigLauncher` for the child ranks."""

    def _configure_launcher(self) -> None:
        assert self.cluster_environment is not None
        if self._start_method == "popen":
            self._launcher = SavedConfigLauncher(self.cluster_environment, self.num_processes, self.num_nodes)
        else:
            super()._configure_launcher()
