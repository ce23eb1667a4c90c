"""Shared fixtures: the real data set (skipped where absent) and its COCO conversions."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The real data set, read in place by its relative path from the project root (never copied).
REAL_DATA = ROOT / ".." / "shared" / "datasets" / "japan-buildings"


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "train" / "via_region_data.json").is_file():
        pytest.skip(f"real data set not found at {REAL_DATA} (see README, 'Tests')")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_coco(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """COCO files of the real train and val sets: {"train": path, "val": path}."""
    from tests.helpers import coco_splits

    return coco_splits(real_data, tmp_path_factory.mktemp("real_coco"))
