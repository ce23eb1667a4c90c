"""Options that several commands share, defined once: the same words, the same parsing, the same defaults."""

from __future__ import annotations

import argparse
import math

from facade_wwr import DEFAULT_SCORE_THRESHOLD


def _number(ok, what: str):
    """An argparse type: a finite number for which ``ok`` holds, else a usage error (exit 2) saying ``what``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return parse


def within(low: float, high: float, unit: str = ""):
    """An argparse type: a finite number from ``low`` to ``high`` (``unit`` in the message)."""
    return _number(lambda v: low <= v <= high, f"a number from {low:g} to {high:g}{f' {unit}' if unit else ''}")


#: a score or an IoU; a distance in pixels
fraction = _number(lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1")
pixels = _number(lambda v: v >= 0.0, "a distance in pixels (>= 0)")


def add_predictions(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "predictions",
        nargs="+",
        metavar="PRED",
        help="per-photo prediction files (.parquet), or folders of them (every .parquet file inside)",
    )


def add_score_threshold(p: argparse.ArgumentParser, default: float = DEFAULT_SCORE_THRESHOLD) -> None:
    """Analysis, evaluation and pre-annotation: one spelling, one parsing (a bad value is a usage error)."""
    p.add_argument(
        "--score-threshold",
        type=fraction,
        default=default,
        metavar="S",
        help=f"keep instances scoring at least S (default: {default})",
    )


def add_mixed_models(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mixed-models",
        action="store_true",
        help="combine results of more than one model (refused by default: stale files mix in silence)",
    )


def add_strict(p: argparse.ArgumentParser, what: str = "turn every warning into an error") -> None:
    p.add_argument("--strict", action="store_true", help=what)


def add_footprint_columns(p: argparse.ArgumentParser) -> None:
    """``--id-column`` and ``--height-column`` of the footprint file (the ``geo.*`` settings of the same name)."""
    from facade_wwr.geo_settings import GeoSettings, option_name

    for name in ("id_column", "height_column"):
        f = GeoSettings.__dataclass_fields__[name]
        p.add_argument(
            option_name(name),
            dest=name,
            default=f.default,
            metavar="NAME",
            help=f"{f.metadata['help']} (geo.{name}; default: {f.default})",
        )


def footprint_settings(args: argparse.Namespace):
    """The GeoSettings of ``--id-column`` and ``--height-column`` (the rest at their defaults)."""
    from facade_wwr.geo_settings import GeoSettings

    return GeoSettings(id_column=args.id_column, height_column=args.height_column).check()


def add_min_wall_m2(p: argparse.ArgumentParser) -> None:
    """``--min-wall-m2``: the visible wall an orientation needs for a WWR (geo.min_wall_m2)."""
    from facade_wwr.aggregate import MIN_WALL_M2

    p.add_argument(
        "--min-wall-m2",
        type=within(0.0, 1.0e6, "m2"),
        default=MIN_WALL_M2,
        metavar="M2",
        help="an orientation (or footprint) with less visible wall over all photos gets no WWR "
        f"(geo.min_wall_m2; default: {MIN_WALL_M2:g})",
    )
