"""Every footprint's window-to-wall ratio from all the photos that saw it, overall and per orientation.

Input: link tables (``facade_wwr.link``; one row per photo, building and wall). The rows that count are
those of linked buildings with a wall area (``status`` ``linked``), not flagged ``edge_on`` (a wall seen
nearly edge-on puts a few pixels over many square metres) and with ``wall_m2 > 0``. Per footprint:

* ``wwr`` = Σ window m² / Σ wall m² over all its counted rows, so a wall photographed more often weighs
  more (docs/design.md, "Several views"); ``wwr_north`` ... ``wwr_west`` the same per orientation of the
  wall's outward normal, empty where no photo saw a wall facing that way;
* ``photos``, ``walls`` (distinct walls seen), ``wall_m2`` and ``window_m2`` (visible facade, summed over
  photos), and per orientation ``photos_<o>`` and ``wall_m2_<o>``;
* an orientation (or a whole footprint) with less than ``min_wall_m2`` of visible wall over all photos
  (default :data:`MIN_WALL_M2`, about one window bay) gets no WWR: a sliver of a wall seen past a corner
  says little, and on the synthetic city such slivers were the whole per-orientation error above 1 point;
  its areas and photo counts stay in the table;
* ``wwr_p10``, ``wwr_p90``: a 10-90 % bootstrap interval of ``wwr`` over photos (photos drawn with
  replacement, :data:`BOOTSTRAP` draws, a fixed seed, so reruns give the same figures); empty for a footprint
  seen in one photo, where there is no spread to measure.

``cea_table`` turns that into City Energy Analyst's architecture columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from facade_wwr.geo import ORIENTATIONS
from facade_wwr.link_tables import LINKED

#: Square metres of visible wall an orientation needs for a WWR (geo.min_wall_m2).
MIN_WALL_M2 = 5.0
#: Bootstrap draws per footprint for the interval over photos.
BOOTSTRAP = 1000
#: Seed of the bootstrap (fixed: the same links give the same interval).
SEED = 0

#: Columns of the per-footprint table after ``footprint_id``, in order.
COLUMNS = [
    "wwr",
    *(f"wwr_{o}" for o in ORIENTATIONS),
    "wwr_p10",
    "wwr_p90",
    "photos",
    "walls",
    "wall_m2",
    "window_m2",
    *(f"photos_{o}" for o in ORIENTATIONS),
    *(f"wall_m2_{o}" for o in ORIENTATIONS),
]
#: City Energy Analyst's architecture columns this tool fills.
CEA_COLUMNS = ["Name", *(f"wwr_{o}" for o in ORIENTATIONS)]


def counted(links: pd.DataFrame) -> pd.DataFrame:
    """The link rows that measure a wall: linked, not edge-on, with wall area."""
    keep = (links["status"] == LINKED) & links["wall_m2"].gt(0).fillna(False)
    keep &= ~links["edge_on"].fillna(False).astype(bool)
    return links.loc[keep.to_numpy(dtype=bool)]


def _bootstrap(per_photo: pd.DataFrame, rng: np.random.Generator) -> tuple[float, float]:
    """10 % and 90 % quantiles of Σ window / Σ wall over photos drawn with replacement."""
    window = per_photo["window_m2"].to_numpy()
    wall = per_photo["wall_m2"].to_numpy()
    draws = rng.integers(0, len(wall), size=(BOOTSTRAP, len(wall)))
    ratios = window[draws].sum(axis=1) / wall[draws].sum(axis=1)
    low, high = np.quantile(ratios, [0.1, 0.9])
    return float(low), float(high)


def aggregate(links: pd.DataFrame, min_wall_m2: float = MIN_WALL_M2) -> pd.DataFrame:
    """One row per footprint seen in the link rows (see the module docstring), sorted by footprint id."""
    rows = counted(links)
    if rows.empty:
        return pd.DataFrame({"footprint_id": pd.Series(dtype="string"), **_empty_columns()})
    rows = rows.assign(footprint_id=rows["footprint_id"].astype(str), orientation=rows["orientation"].astype(str))
    by = rows.groupby("footprint_id", sort=True)
    out = pd.DataFrame(
        {
            "wall_m2": by["wall_m2"].sum(),
            "window_m2": by["window_m2"].sum(),
            "photos": by["file_name"].nunique(),
            "walls": by["wall"].nunique(),
        }
    )
    out["wwr"] = (out["window_m2"] / out["wall_m2"]).where(out["wall_m2"] >= min_wall_m2)
    sums = pd.MultiIndex.from_product([["wall_m2", "window_m2", "photos"], ORIENTATIONS])
    per_orientation = (
        rows.groupby(["footprint_id", "orientation"])
        .agg(wall_m2=("wall_m2", "sum"), window_m2=("window_m2", "sum"), photos=("file_name", "nunique"))
        .unstack("orientation")
        .reindex(index=out.index, columns=sums)
    )
    for o in ORIENTATIONS:
        wall, window = per_orientation[("wall_m2", o)], per_orientation[("window_m2", o)]
        out[f"wwr_{o}"] = (window / wall).where(wall >= min_wall_m2)
        out[f"photos_{o}"] = per_orientation[("photos", o)].fillna(0).astype(int)
        out[f"wall_m2_{o}"] = wall.fillna(0.0)
    rng = np.random.default_rng(SEED)
    per_photo = rows.groupby(["footprint_id", "file_name"], sort=True)[["wall_m2", "window_m2"]].sum()
    low = pd.Series(np.nan, index=out.index)
    high = pd.Series(np.nan, index=out.index)
    for footprint, part in per_photo.groupby(level="footprint_id", sort=True):
        if len(part) > 1 and np.isfinite(out.at[footprint, "wwr"]):
            low[footprint], high[footprint] = _bootstrap(part, rng)
    out["wwr_p10"], out["wwr_p90"] = low, high
    out = out[COLUMNS].reset_index()
    out["footprint_id"] = out["footprint_id"].astype("string")
    return out


def _empty_columns() -> dict[str, pd.Series]:
    kinds = {"photos": "int64", "walls": "int64", **{f"photos_{o}": "int64" for o in ORIENTATIONS}}
    return {c: pd.Series(dtype=kinds.get(c, "float64")) for c in COLUMNS}


def with_footprints(table: pd.DataFrame, footprint_ids: list[str]) -> pd.DataFrame:
    """The table over every footprint of the file, in file order: unseen ones with empty WWR and 0 photos."""
    ids = pd.Index([i for i in footprint_ids if i], name="footprint_id")
    out = table.set_index("footprint_id").reindex(ids)
    for column in ("photos", "walls", *(f"photos_{o}" for o in ORIENTATIONS)):
        out[column] = out[column].fillna(0).astype(int)
    for column in ("wall_m2", "window_m2", *(f"wall_m2_{o}" for o in ORIENTATIONS)):
        out[column] = out[column].fillna(0.0)
    out = out.reset_index()
    out["footprint_id"] = out["footprint_id"].astype("string")
    return out


def cea_table(table: pd.DataFrame) -> pd.DataFrame:
    """City Energy Analyst's architecture columns for the footprints that have a WWR. An orientation no
    photo saw takes the footprint's overall WWR; ``wwr_filled`` names those orientations (space-separated)."""
    seen = table[table["wwr"].notna()]
    out = pd.DataFrame({"Name": seen["footprint_id"].astype(str).to_numpy()})
    filled: list[list[str]] = [[] for _ in range(len(seen))]
    for o in ORIENTATIONS:
        values = seen[f"wwr_{o}"].to_numpy(dtype=float)
        missing = np.isnan(values)
        out[f"wwr_{o}"] = np.where(missing, seen["wwr"].to_numpy(dtype=float), values)
        for k in np.flatnonzero(missing):
            filled[k].append(o)
    out["wwr_filled"] = [" ".join(f) for f in filled]
    return out


def check_architecture(architecture: pd.DataFrame, path: str) -> None:
    """A CEA ``architecture`` table has ``Name`` and the four ``wwr_*`` columns; a one-line UserError otherwise."""
    from facade_wwr.errors import UserError

    missing = [c for c in CEA_COLUMNS if c not in architecture.columns]
    if missing:
        raise UserError(
            f"{path}: no column {', '.join(missing)} (a CEA architecture table has Name and wwr_north, wwr_east, "
            "wwr_south, wwr_west)"
        )


def update_architecture(architecture: pd.DataFrame, cea: pd.DataFrame, path: str) -> tuple[pd.DataFrame, int]:
    """A copy of a CEA ``architecture`` table with ``wwr_*`` replaced for the buildings in ``cea`` (matched on
    ``Name``); every other row and column kept. Returns it and how many buildings matched."""
    check_architecture(architecture, path)
    out = architecture.copy()
    values = cea.set_index("Name")
    names = out["Name"].astype(str)
    matched = names.isin(values.index).to_numpy()
    for o in ORIENTATIONS:
        column = f"wwr_{o}"
        new = names[matched].map(values[column]).to_numpy(dtype=float)
        out[column] = out[column].astype(float)
        out.loc[matched, column] = np.round(new, 4)
    return out, int(matched.sum())
