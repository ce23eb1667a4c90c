"""Stable assignment of photos to shards (one prediction job and one analysis job per shard).

A photo's shard depends only on its file name and on the number of shards: ``sha1(name) mod n``.
Adding, removing or changing one photo therefore changes one shard only. The number of shards is
``shard_size``-based and rounded up to a power of two, so it changes only when the photo count
crosses a doubling; when it does, each old shard splits cleanly into two.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable


def shard_count(n_photos: int, shard_size: int) -> int:
    """Smallest power of two ``n`` with ``n * shard_size >= n_photos`` (at least 1)."""
    if n_photos <= shard_size:
        return 1
    return 1 << math.ceil(math.log2(n_photos / shard_size))


def shard_of(name: str, n_shards: int) -> int:
    digest = hashlib.sha1(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def assign(names: Iterable[str], shard_size: int) -> dict[str, list[str]]:
    """``{shard id: sorted photo names}`` for the non-empty shards; ids are zero-padded (``s000``)."""
    names = sorted(set(names))
    n = shard_count(len(names), shard_size)
    width = max(3, len(str(n - 1)))
    shards: dict[str, list[str]] = {}
    for name in names:
        shards.setdefault(f"s{shard_of(name, n):0{width}d}", []).append(name)
    return dict(sorted(shards.items()))
