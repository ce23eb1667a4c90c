"""The ``facade-wwr`` command line: one sub-command per stage, each runnable by hand.

Each stage lives in ``facade_wwr.commands.<name>`` with two functions, ``configure(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so that light stages
(``analyze``, ``merge``) never pay for importing torch.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import traceback
from collections.abc import Iterator

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
    "index-footprints": ("index_footprints", "sort footprints into GeoParquet that link jobs read near their photos"),
    "link": ("link", "link detected buildings to footprints by camera pose; WWR of each wall on its own plane"),
    "evaluate-geo": ("evaluate_geo", "score links and footprint WWR against the synthetic city's truth (geo.json)"),
    "aggregate": ("aggregate", "WWR per footprint and orientation: GeoPackage, CEA table, map"),
}


def _module(name: str):
    return importlib.import_module(f"facade_wwr.commands.{COMMANDS[name][0]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facade-wwr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"facade-wwr {__version__}")
    parser.add_argument(
        "--log",
        metavar="FILE",
        help="write the command's messages (its stderr) to FILE; its error and its first "
        f"{TERMINAL_WARNINGS} warnings are also printed on the terminal",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            _module(name).configure(p)
    return parser


#: With --log, how many warnings a command also prints on the terminal (the rest are counted there).
TERMINAL_WARNINGS = 5
_ERROR = re.compile(r"facade-wwr [\w-]+: (error|interrupted)")
_WARNING = re.compile(r"facade-wwr: warning: ")


class _Echo:
    """``sys.stderr`` under ``--log``: every line goes to the log, facade-wwr's errors and first warnings also
    to the terminal (a Snakemake rule's log is where nobody looks while the run goes on)."""

    def __init__(self, log, terminal, path: str) -> None:
        self.log, self.terminal, self.path = log, terminal, path
        self.pending = ""
        self.warnings = 0

    def write(self, text: str) -> int:
        self.log.write(text)
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if _WARNING.match(line):
                self.warnings += 1
            if _ERROR.match(line) or (_WARNING.match(line) and self.warnings <= TERMINAL_WARNINGS):
                self.terminal.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.terminal.flush()

    def __getattr__(self, name: str):  # fileno, encoding, isatty, ...: those of the log
        return getattr(self.log, name)

    def close(self) -> None:
        if self.warnings > TERMINAL_WARNINGS:
            self.terminal.write(f"facade-wwr: {self.warnings - TERMINAL_WARNINGS} more warnings in {self.path}\n")
        self.flush()


@contextlib.contextmanager
def _logged(path: str) -> Iterator[_Echo]:
    """File descriptor 2 is the log meanwhile, so that library and child-process messages land there too."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    sys.stderr.flush()
    previous, saved = sys.stderr, os.dup(2)
    with (
        open(path, "w", encoding="utf-8", buffering=1) as log,
        open(os.dup(saved), "w", buffering=1, errors="backslashreplace") as terminal,
    ):
        os.dup2(log.fileno(), 2)
        echo = sys.stderr = _Echo(log, terminal, path)
        try:
            yield echo
        finally:
            echo.close()
            sys.stderr = previous
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Configure only the chosen command: importing every stage would make `--help` of a light one slow.
    chosen = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(chosen).parse_args(argv)
    if args.log is None:
        return _run(args)
    with _logged(args.log) as echo:
        try:
            return _run(args)
        except Exception as e:  # a bug: its traceback into the log, one line on the terminal
            traceback.print_exc(file=echo.log)
            print(f"facade-wwr {args.command}: error: {type(e).__name__}: {e} (traceback in {args.log})", file=echo)
            return 1


def _run(args: argparse.Namespace) -> int:
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
