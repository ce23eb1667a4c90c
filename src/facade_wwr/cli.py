"""The ``facade-wwr`` command line: one sub-command per stage, each runnable by hand.

Each stage lives in ``facade_wwr.commands.<name>`` with two functions, ``configure(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so that light stages
(``analyze``, ``merge``) never pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from facade_wwr import __version__
from facade_wwr.errors import UserError

#: sub-command -> (module under facade_wwr.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "via2coco": ("via2coco", "convert VIA annotation files into a COCO instances file"),
    "preview": ("preview", "draw ground-truth masks of a COCO file on sample images"),
    "demo-data": ("demo_data", "write a synthetic facade data set (VIA exports, photos, true WWR)"),
    "demo-city": ("demo_city", "write a synthetic neighbourhood: footprints, posed photos, VIA exports, true WWR"),
    "download-weights": ("download_weights", "download COCO-pretrained weights into resources/weights"),
    "train": ("train", "train a Mask R-CNN on COCO files and evaluate it"),
    "predict": ("predict", "predict photos into per-image Parquet prediction files"),
    "analyze": ("analyze", "window percentage per building from prediction files"),
    "merge": ("merge", "merge building tables into one CSV (+ Parquet)"),
    "evaluate": ("evaluate", "compare predicted window percentages with annotated ground truth"),
    "to-via": ("to_via", "turn prediction files into a VIA file for correction (pre-annotation)"),
    "link": ("link", "link detected buildings to footprints by camera pose; WWR of each wall on its own plane"),
}


def _module(name: str):
    return importlib.import_module(f"facade_wwr.commands.{COMMANDS[name][0]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facade-wwr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"facade-wwr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            _module(name).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Configure only the chosen command: importing every stage would make `--help` of a light one slow.
    chosen = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(chosen).parse_args(argv)
    try:
        return int(_module(args.command).run(args) or 0)
    except UserError as e:
        print(f"facade-wwr {args.command}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder that cannot be created or written, a full disk: no traceback for those
        where = f"{e.filename}: " if e.filename else ""
        print(f"facade-wwr {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"facade-wwr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
