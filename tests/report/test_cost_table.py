"""`robustlens report table=cost`: what each probe and the job cost, from the cost keys of
results.json (``<probe>/cost/<field>``, ``job/cost/<field>``), against values written by hand.

Two seeds: pgd_linf took 10 and 14 s with 12 forward / 10 backward passes per sample (fixed-step
PGD of 10 steps: 10 gradient passes, 1 verification, 1 clean pass), its peak 100 and 120 MiB;
clean took 1 and 3 s with 1 forward pass. Mean ± sample std over the seeds: pgd_linf 12.00 ±
2.83 s, 110.00 ± 14.14 MiB; clean 2.00 ± 1.41 s; the job 14.00 ± 4.24 s.
"""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

from robustlens.tasks.report import run_report
from tests.console_text import recording_console
from tests.results_files import write_job

CONF = Path(__file__).resolve().parents[2] / "conf"


def cost(probe: str, seconds: float, forward: float, backward: float, memory: float) -> dict[str, float]:
    return {f"{probe}/cost/seconds": seconds, f"{probe}/cost/forward_per_sample": forward,
            f"{probe}/cost/backward_per_sample": backward, f"{probe}/cost/generator_forward_per_sample": 0.0,
            f"{probe}/cost/generator_backward_per_sample": 0.0, f"{probe}/cost/peak_memory_mb": memory,
            f"{probe}/accuracy": 0.5}


def test_cost_table_by_hand(tmp_path: Path) -> None:
    for seed, (pgd_s, clean_s, pgd_mb) in {0: (10.0, 1.0, 100.0), 1: (14.0, 3.0, 120.0)}.items():
        metrics = {**cost("pgd_linf", pgd_s, 12.0, 10.0, pgd_mb), **cost("clean", clean_s, 1.0, 0.0, 50.0),
                   **cost("job", pgd_s + clean_s, 13.0, 10.0, pgd_mb)}
        write_job(tmp_path / str(seed), metrics, sweep_params={"seed": seed})
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("report", overrides=[f"run_dir={tmp_path}", "table=cost", "plots=[]"])
    run_report(cfg, console=recording_console(80))
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| probe | cost/seconds | cost/forward_per_sample | cost/backward_per_sample |" in table
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert rows["pgd_linf"].startswith("| pgd_linf | 12.00 ± 2.83 | 12.00 ± 0.00 | 10.00 ± 0.00 | 0.00 ± 0.00 |")
    assert rows["pgd_linf"].endswith("| 110.00 ± 14.14 |")
    assert rows["clean"].startswith("| clean | 2.00 ± 1.41 | 1.00 ± 0.00 | 0.00 ± 0.00 |")
    assert rows["job"].startswith("| job | 14.00 ± 4.24 | 13.00 ± 0.00 |")
    assert "accuracy" not in table.replace("cost/", "")
