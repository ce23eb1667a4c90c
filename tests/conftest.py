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
    from facade_wwr.coco import Source, via_to_coco
    from facade_wwr.errors import Warnings

    out = tmp_path_factory.mktemp("real_coco")
    paths = {}
    for split in ("train", "val"):
        paths[split] = out / f"{split}.json"
        via_to_coco(
            [Source(str(real_data / split / "via_region_data.json"), str(real_data / split))],
            paths[split],
            warnings=Warnings(quiet=True),
        )
    return paths
