"""The demo workflow through a real single-node SLURM cluster: GPU rules go to the gpu partition with a
GPU request, analysis to the cpu partition (read back from squeue, jobs stay listed via MinJobAge)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import copy_workflow, snakemake, tiny_config
from tests.slurm_cluster import slurm_cluster, unavailable_reason


def squeue_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    out = subprocess.run(
        ["squeue", "-t", "all", "-h", "-O", "JobID:12,Partition:12,State:14,tres-per-job:30,Comment:200"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in out.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5:
            job_id, partition, state, tres, comment = parts
            jobs.append({"id": job_id, "partition": partition, "state": state, "tres": tres, "comment": comment})
    return jobs


def rule_of(comment: str) -> str:
    # the plugin's comment is "rule_<name>_wildcards_..." or "rule_<name>"
    name = comment.strip().removeprefix("rule_")
    return name.split("_wildcards")[0]


@pytest.mark.slow
def test_demo_workflow_on_slurm_uses_gpu_and_cpu_partitions(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    workdir = copy_workflow(tmp_path / "workflow", tiny_config())
    with contextlib.ExitStack() as stack:
        try:
            env = stack.enter_context(slurm_cluster(tmp_path / "slurm"))
        except (RuntimeError, subprocess.CalledProcessError) as e:
            pytest.skip(f"SLURM could not start here: {e}")
        snakemake(
            workdir,
            "--profile",
            "profiles/slurm",
            "--slurm-status-command",
            "squeue",
            "--slurm-no-account",
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--jobs",
            "4",
            # the GPU rules declare 4 threads; this node has os.cpu_count() CPUs
            "--set-threads",
            f"train={os.cpu_count()}",
            f"predict={os.cpu_count()}",
            f"predict_val={os.cpu_count()}",
            env=env,
        )
        jobs = squeue_jobs(env)

    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        by_rule.setdefault(rule_of(job["comment"]), []).append(job)
    assert {"train", "predict", "analyze", "merge"} <= set(by_rule), by_rule.keys()
    for rule in ("train", "predict", "predict_val"):
        for job in by_rule[rule]:
            assert job["partition"] == "gpu" and "gpu:1" in job["tres"], (rule, job)
    for rule in ("analyze", "merge", "via2coco"):
        for job in by_rule[rule]:
            assert job["partition"] == "cpu" and "gpu" not in job["tres"], (rule, job)
    assert all(job["state"] == "COMPLETED" for job in jobs), jobs
    table = pd.read_csv(workdir / "results" / "buildings.csv")
    assert len(table) > 0 or (workdir / "results" / "buildings.csv").read_text().startswith("file_name,")
