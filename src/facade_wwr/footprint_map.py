"""The report's map: footprints coloured by window-to-wall ratio, grey where no photo saw them, and the
cameras with their view cones (at the linked, refined poses).

Drawn in metres around the cameras (``facade_wwr.geo.LocalFrame``, north up), over the footprints within
:data:`MARGIN` metres of what was seen, so a city of a million footprints draws only the streets photographed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from facade_wwr.geo import LocalFrame

#: Metres of footprints drawn around the seen footprints and the cameras.
MARGIN = 30.0
#: Length of a camera's view cone in metres (at most; shorter when its buildings were nearer).
CONE = 25.0
#: Colour scale of WWR: 0 to this value (a facade of more than 60 % glass is rare).
WWR_MAX = 0.6
UNSEEN = "#d0d0d0"


def cameras(links: pd.DataFrame) -> pd.DataFrame:
    """One row per photo with a pose: lat, lon, heading, hfov and the median distance of its walls."""
    posed = links.dropna(subset=["lat", "lon", "heading"])
    if posed.empty:
        return pd.DataFrame(columns=["file_name", "lat", "lon", "heading", "hfov", "distance_m"])
    by = posed.groupby("file_name", sort=True)
    out = by[["lat", "lon", "heading", "hfov"]].first()
    out["distance_m"] = by["distance_m"].median()
    return out.reset_index()


def draw(
    footprints,  # GeoDataFrame with footprint_id, wwr and geometry, any CRS
    links: pd.DataFrame,
    path: str | Path,
    title: str = "window-to-wall ratio per footprint",
) -> None:
    """Write the map as PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Wedge

    cams = cameras(links)
    lonlat = footprints.to_crs("EPSG:4326")
    seen = lonlat[lonlat["wwr"].notna()]
    if len(cams):
        lat0, lon0 = float(cams["lat"].mean()), float(cams["lon"].mean())
    elif len(seen):
        centre = seen.geometry.union_all().centroid
        lat0, lon0 = centre.y, centre.x
    else:
        centre = lonlat.geometry.union_all().centroid
        lat0, lon0 = centre.y, centre.x
    frame = LocalFrame(lat0, lon0)
    local = lonlat.to_crs(frame.crs)
    east, north = frame.to_local(cams["lon"].to_numpy(float), cams["lat"].to_numpy(float))
    points = [np.stack([east, north], axis=1)] if len(cams) else []
    seen_local = local[local["wwr"].notna()]
    if len(seen_local):
        b = seen_local.total_bounds
        points.append(np.array([[b[0], b[1]], [b[2], b[3]]]))
    if points:
        allp = np.concatenate(points)
        x0, y0 = allp.min(axis=0) - MARGIN
        x1, y1 = allp.max(axis=0) + MARGIN
        local = local.cx[x0:x1, y0:y1]
    else:
        x0, y0, x1, y1 = local.total_bounds
    size = max(x1 - x0, y1 - y0, 1.0)
    width = 8.0
    height = max(3.0, min(12.0, width * (y1 - y0) / max(x1 - x0, 1.0)))
    fig, ax = plt.subplots(figsize=(width, height), dpi=120)
    unseen = local[local["wwr"].isna()]
    if len(unseen):
        unseen.plot(ax=ax, color=UNSEEN, edgecolor="#9a9a9a", linewidth=0.4, zorder=2)
    colours = plt.get_cmap("viridis")
    norm = matplotlib.colors.Normalize(0.0, WWR_MAX)
    seen_local = local[local["wwr"].notna()]  # the seen footprints within the drawn extent
    if len(seen_local):
        seen_local.plot(ax=ax, column="wwr", cmap=colours, norm=norm, edgecolor="black", linewidth=0.5, zorder=2)
    for x, y, (_, cam) in zip(east, north, cams.iterrows()):
        hfov = float(cam["hfov"]) if np.isfinite(cam["hfov"]) else 60.0
        reach = min(CONE, float(cam["distance_m"]) * 1.2) if np.isfinite(cam["distance_m"]) else CONE
        # matplotlib's angles are counter-clockwise from east; a heading is clockwise from north
        centre = 90.0 - float(cam["heading"])
        ax.add_patch(
            Wedge((x, y), reach, centre - hfov / 2, centre + hfov / 2, facecolor="#e4572e", alpha=0.15, lw=0, zorder=1)
        )
    if len(cams):
        ax.scatter(east, north, s=9, color="#e4572e", zorder=3, label=f"camera ({len(cams)} photos)")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    scale = 10 ** math.floor(math.log10(size / 4))
    ax.plot([x0 + size * 0.03, x0 + size * 0.03 + scale], [y0 + size * 0.03] * 2, color="black", lw=2)
    ax.text(x0 + size * 0.03 + scale / 2, y0 + size * 0.045, f"{scale:g} m", ha="center", fontsize=8)
    ax.annotate(
        "N",
        xy=(x1 - size * 0.04, y1 - size * 0.03),
        xytext=(x1 - size * 0.04, y1 - size * 0.11),
        arrowprops={"arrowstyle": "->", "lw": 1.5},
        ha="center",
        fontsize=10,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=colours), ax=ax, shrink=0.7)
    bar.set_label("window-to-wall ratio (grey: not seen)")
    count = int(footprints["wwr"].notna().sum())
    ax.set_title(f"{title}: {count} footprints seen", fontsize=10)
    fig.tight_layout()
    from facade_wwr.fileio import atomic_path

    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.15)  # no empty bands
    plt.close(fig)
