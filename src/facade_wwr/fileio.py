"""Output files: written atomically (a temporary sibling, then rename, so no reader ever sees half a file), and
never over one of the command's inputs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from facade_wwr.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the suffix of ``path`` so that libraries choosing a format by suffix
    (Pillow, matplotlib) still do the right thing.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as e:  # a read-only folder: name the file the user asked for, not the temporary one
        raise OSError(e.errno, e.strerror, str(target)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should be as readable as any other file
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as e:
        if e.filename not in (None, tmp_name, str(tmp)):
            raise  # about another file (an input, say): as it is
        raise OSError(e.errno, e.strerror or str(e), str(target)) from None  # a full disk names no file at all
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it sets it: done once, at import, before any thread writes
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning a missing file or a syntax error into a one-line :class:`UserError`.

    A UTF-8 byte-order mark (editors write one; VIA and json.dump never do) is skipped. A key twice in one
    object (json.load would silently keep the last: a photo's regions, a region's shape) is an error."""

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise UserError(
                        f"{path}: key {key!r} appears twice in one JSON object (a JSON reader keeps only the last)"
                    )
                seen.add(key)
        return obj

    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f, object_pairs_hook=unique_keys)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None


def refuse_overwrites(
    inputs: Iterable[str | os.PathLike[str] | None],
    outputs: Iterable[str | os.PathLike[str] | None],
    input_folders: Iterable[tuple[str | os.PathLike[str] | None, tuple[str, ...]]] = (),
    output_folders: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse, before a command writes anything, to write over one of its inputs by any spelling of its path.

    ``inputs`` are files the command reads; ``input_folders`` are ``(folder, suffixes)`` whose files with
    those suffixes it reads (photos, prediction files); ``outputs`` are every file it writes (twins and
    summaries included); ``output_folders`` are folders it fills with one file per photo, which must not be
    an input folder. Paths are compared resolved (``./a``, ``a/../a`` and symlinks alike). A new file beside
    the inputs, with a name no input has, stays allowed. None entries are ignored (an option not given).
    """
    read: dict[str, str] = {}
    folders: dict[str, tuple[str, tuple[str, ...]]] = {}
    for folder, suffixes in input_folders:
        if folder is not None and os.path.isdir(folder):
            folders[os.path.realpath(folder)] = (str(folder), suffixes)
            inside = (p for p in Path(folder).iterdir() if p.suffix.lower() in suffixes)
            read.update((os.path.realpath(p), str(p)) for p in inside)
    read.update((os.path.realpath(p), str(p)) for p in inputs if p is not None)
    written: dict[str, str] = {}
    for out in (o for o in outputs if o is not None):
        real = os.path.realpath(out)
        if real in read:
            raise UserError(f"{out}: this output would write over the input {read[real]}")
        if real in written:
            raise UserError(f"{out}: two outputs of this command are one file ({written[real]} and {out})")
        written[real] = str(out)
        folder, suffixes = folders.get(os.path.dirname(real), ("", ()))
        if Path(out).suffix.lower() in suffixes:
            raise UserError(f"{out}: in the input folder {folder}, it would be read as an input; write it elsewhere")
    for folder in output_folders:
        if folder is not None and os.path.realpath(folder) in folders:
            raise UserError(
                f"{folder}: this output folder is the input folder {folders[os.path.realpath(folder)][0]}; "
                "choose another folder"
            )


@contextlib.contextmanager
def replaced_folder(out: str | os.PathLike[str], markers: Sequence[str], what: str) -> Iterator[Path]:
    """Yield a new temporary folder beside ``out``, which replaces ``out`` whole when the block succeeds.

    ``out`` may be absent, an empty folder (Snakemake makes the parents of declared outputs), or an earlier
    output of the same kind, known by one of its ``markers`` files; anything else is refused, naming ``what``.
    """
    target = Path(out).resolve()
    if target.exists() and not target.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if Path.cwd().resolve().is_relative_to(target):
        raise UserError(f"{out}: the current folder (or one above it) cannot be replaced; give a new folder's name")
    earlier = any((target / m).is_file() for m in markers)
    if target.is_dir() and not earlier and any(not p.is_dir() for p in target.rglob("*")):
        raise UserError(f"{out}: folder is not empty and holds no {what} ({markers[0]}); choose another")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # made by mkdir, so it follows the umask
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
