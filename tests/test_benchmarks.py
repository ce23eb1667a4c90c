"""The benchmark scripts the README cites still start: each prints its --help (their imports all resolve)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_benchmark_starts(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--help"], cwd=ROOT, text=True, capture_output=True
    )
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr
