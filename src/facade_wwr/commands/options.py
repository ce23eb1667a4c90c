"""Options that several commands share, defined once: the same words, the same parsing, the same defaults."""

from __future__ import annotations

import argparse
import math

from facade_wwr import DEFAULT_SCORE_THRESHOLD


def fraction(text: str) -> float:
    """A number from 0 to 1 (a score, an IoU): the argparse type, so a bad one is a usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"{text} is not a number from 0 to 1")
    return value


def pixels(text: str) -> float:
    """A distance in pixels (>= 0)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0.0):
        raise argparse.ArgumentTypeError(f"{text} is not a distance in pixels (>= 0)")
    return value


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


def add_strict(p: argparse.ArgumentParser, what: str = "turn every warning into an error") -> None:
    p.add_argument("--strict", action="store_true", help=what)
