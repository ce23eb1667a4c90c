"""Progress lines: how long is left, in the words training and prediction print."""

from __future__ import annotations

import math


def format_eta(seconds: float) -> str:
    """``3m07s`` or ``1h02m``; ``?`` while no rate is known."""
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
