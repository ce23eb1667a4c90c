"""Helpers for integration tests that run the Snakemake workflow in a scratch copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles")


def copy_workflow(dest: Path, config: dict[str, Any] | None = None) -> Path:
    """Copy the workflow into ``dest`` (results and logs stay there); optionally replace its config."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    if config is not None:
        (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def default_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def snakemake(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: int = 1800,
    new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run snakemake from the test's Python environment in ``workdir``; output captured as text.

    ``new_session`` puts snakemake and its jobs in a process group of their own, so that a test can kill
    the whole run without killing pytest.
    """
    bin_dir = str(Path(sys.executable).parent)
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = full_env.get("PATH", "") + os.pathsep + bin_dir  # a test's own PATH entries come first
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=full_env,
        text=True,
        capture_output=True,
        timeout=timeout,
        start_new_session=new_session,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def jobs_run(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Rule -> number of jobs from the 'Job stats' table snakemake prints (empty when nothing ran)."""
    counts: dict[str, int] = {}
    lines = (proc.stdout + proc.stderr).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("Job stats:"))
    except StopIteration:
        return counts
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts
