"""The demo workflow through a real single-node SLURM cluster: GPU rules go to the gpu partition with a
GPU request, analysis to the cpu partition (read back from squeue, jobs stay listed via MinJobAge)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from facade_wwr.demo import generate
from tests.helpers import copy_workflow, own_data_config, snakemake, tiny_config
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


def fit_threads(profile: Path, cpus: int) -> None:
    """Set every entry of a profile's set-threads to ``cpus``, as the README tells a user whose nodes are small."""
    config = yaml.safe_load(profile.read_text())
    config["set-threads"] = dict.fromkeys(config["set-threads"], cpus)
    profile.write_text(yaml.safe_dump(config, sort_keys=False))


def planned_threads(proc: subprocess.CompletedProcess[str]) -> dict[str, set[int]]:
    """Rule -> the threads its jobs ask for, from a dry run's job listing (1 when none is printed); a job with a
    message (predict) prints it instead, and the message says its threads."""
    threads: dict[str, set[int]] = {}
    for block in re.split(r"^\[.+\]$", proc.stdout + proc.stderr, flags=re.MULTILINE):  # each job after its time
        rule = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):$", block, re.MULTILINE)
        message = re.search(r"^Job \d+: (\w+): .*\(threads: (\d+)", block, re.MULTILINE)
        if rule:
            n = re.search(r"^    threads: (\d+)$", block, re.MULTILINE)
            threads.setdefault(rule[1], set()).add(int(n[1]) if n else 1)
        elif message:
            threads.setdefault(message[1], set()).add(int(message[2]))
    return threads


def test_the_slurm_profile_is_where_threads_fit_the_nodes(tmp_path: Path) -> None:
    """A job asking for more CPUs than its partition's nodes have waits forever (PENDING, PartitionConfig).
    Every rule that asks for more than one thread is in the SLURM profile's set-threads, and what the profile
    says there is what those jobs ask for."""
    generate(tmp_path / "demo", train=2, val=1, photos=2, seed=2, size=96)  # made now: every job is planned
    config = own_data_config(tmp_path / "demo")
    workdir = copy_workflow(tmp_path / "workflow", config)
    declared = planned_threads(snakemake(workdir, "-n", "--cores", "64"))
    many = {rule for rule, n in declared.items() if max(n) > 1}
    profile = workdir / "profiles" / "slurm" / "config.yaml"
    assert many and many == set(yaml.safe_load(profile.read_text())["set-threads"]), declared
    fit_threads(profile, 3)
    planned = planned_threads(snakemake(workdir, "-n", "--profile", "profiles/slurm", "--cores", "64"))
    assert all(planned[rule] == {3} for rule in many), planned


@pytest.mark.slow
def test_demo_workflow_on_slurm_uses_gpu_and_cpu_partitions(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    workdir = copy_workflow(tmp_path / "workflow", tiny_config())
    # the README's fix for jobs that ask for more CPUs than the node has (PENDING, PartitionConfig): the profile
    fit_threads(workdir / "profiles" / "slurm" / "config.yaml", os.cpu_count() or 1)
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
