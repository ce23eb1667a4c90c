"""facade-wwr aggregate: link tables + footprints -> every footprint's WWR per orientation (GeoPackage, CSV,
City Energy Analyst table, map)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from facade_wwr.commands import options
from facade_wwr.errors import UserError, Warnings


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "links", nargs="+", metavar="LINKS", help="link tables written by 'link' (.parquet files or folders of them)"
    )
    p.add_argument("--footprints", required=True, metavar="FILE", help="the footprints the links were made with")
    options.add_footprint_columns(p)
    options.add_min_wall_m2(p)
    p.add_argument("--out", required=True, metavar="GPKG", help="GeoPackage to write (layer 'footprints')")
    p.add_argument("--csv", metavar="CSV", help="the same table without geometry (default: <out stem>.csv)")
    p.add_argument(
        "--cea", metavar="CSV", help="City Energy Analyst's Name, wwr_* columns (default: <out stem>_cea.csv)"
    )
    p.add_argument("--map", metavar="PNG", help="map of the footprints by WWR (default: <out stem>_map.png)")
    p.add_argument(
        "--cea-architecture", metavar="DBF", help="an existing CEA architecture.dbf to copy with the wwr_* replaced"
    )
    p.add_argument(
        "--cea-architecture-out",
        metavar="DBF",
        help="where that copy goes (default: architecture.dbf beside --out)",
    )
    options.add_strict(p)
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def outputs(args: argparse.Namespace) -> dict[str, Path]:
    out = Path(args.out)
    stem = out.with_suffix("")
    paths = {
        "gpkg": out,
        "csv": Path(args.csv or f"{stem}.csv"),
        "cea": Path(args.cea or f"{stem}_cea.csv"),
        "map": Path(args.map or f"{stem}_map.png"),
    }
    if args.cea_architecture:
        paths["dbf"] = Path(args.cea_architecture_out or out.parent / "architecture.dbf")
    return paths


def write_dbf(frame, path: Path) -> None:
    """A DataFrame as a dBase table (what CEA reads), written whole or not at all."""
    import pyogrio

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as folder:
        tmp = Path(folder) / f"{path.stem}.dbf"
        pyogrio.write_dataframe(frame, tmp, driver="ESRI Shapefile", encoding="UTF-8")
        cpg = tmp.with_suffix(".cpg")
        if cpg.exists():
            shutil.move(cpg, path.with_suffix(".cpg"))
        os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    import pyogrio

    from facade_wwr import aggregate, footprint_map, link_tables
    from facade_wwr.fileio import atomic_path, refuse_overwrites
    from facade_wwr.footprints import read_outlines

    paths = outputs(args)
    if paths["gpkg"].suffix.lower() != ".gpkg":
        raise UserError(f"--out {paths['gpkg']}: give a .gpkg path (a GeoPackage)")
    files = link_tables.files(args.links)
    refuse_overwrites([*files, args.footprints, args.cea_architecture], paths.values())
    warnings = Warnings(strict=args.strict)
    architecture = None
    if args.cea_architecture:
        if not os.path.isfile(args.cea_architecture):
            raise UserError(f"{args.cea_architecture}: CEA architecture file not found")
        try:
            architecture = pyogrio.read_dataframe(args.cea_architecture, read_geometry=False)
        except Exception as e:  # GDAL's errors on a file that is not a dBase table
            from facade_wwr.errors import first_line

            raise UserError(f"{args.cea_architecture}: cannot read as a dBase table ({first_line(e)})") from None
        aggregate.check_architecture(architecture, args.cea_architecture)
    links = link_tables.read(files)
    outlines, ids = read_outlines(args.footprints, options.footprint_settings(args))
    table = aggregate.aggregate(links, args.min_wall_m2)
    unknown = sorted(set(table["footprint_id"]) - set(ids))
    if unknown:
        warnings.warn(
            f"{args.footprints}: {len(unknown)} footprints of the link tables are not in this file "
            f"({', '.join(unknown[:5])}); were the links made with other footprints? They are left out"
        )
    full = aggregate.with_footprints(table, ids)
    geometry = outlines.geometry[[bool(i) for i in ids]].to_numpy()
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(full, geometry=geometry, crs=outlines.crs)
    cea = aggregate.cea_table(full)
    with atomic_path(paths["gpkg"]) as tmp:
        gdf.to_file(tmp, driver="GPKG", layer="footprints", engine="pyogrio")
    with atomic_path(paths["csv"]) as tmp:
        full.to_csv(tmp, index=False, float_format="%.6f")
    with atomic_path(paths["cea"]) as tmp:
        cea.to_csv(tmp, index=False, float_format="%.4f")
    footprint_map.draw(gdf, links, paths["map"])
    summary = (
        f"{paths['gpkg']}: {int(full['wwr'].notna().sum())} of {len(full)} footprints seen, "
        f"from {len(links.attrs['photos'])} photos; CEA table {paths['cea']} ({len(cea)} buildings), "
        f"map {paths['map']}"
    )
    if architecture is not None:
        updated, matched = aggregate.update_architecture(architecture, cea, args.cea_architecture)
        write_dbf(updated, paths["dbf"])
        summary += f"; {paths['dbf']}: {matched} of {len(updated)} buildings updated"
        if matched == 0:
            warnings.warn(f"{args.cea_architecture}: no Name matches a footprint id; the copy is unchanged")
    if not args.quiet:
        print(summary)
    return 0
