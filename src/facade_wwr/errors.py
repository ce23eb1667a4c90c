"""User-facing errors and warnings.

Every problem a user can cause (bad input, missing file) is raised as :class:`UserError`; the command
line prints its message on one line and exits non-zero, never a traceback. Problems that can be
skipped safely go through a :class:`Warnings` collector, which prints them and, in strict mode,
turns the first one into an error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


class UserError(Exception):
    """A problem with the user's input; the message names the file (and region) at fault."""


def first_line(error: BaseException) -> str:
    """The first line of a library's error message (its name if it has none), to quote in a UserError."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass
class Warnings:
    """Collects skippable problems, printing each once to stderr as it happens."""

    strict: bool = False
    quiet: bool = False
    messages: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if self.strict:
            raise UserError(f"{message} (--strict turns warnings into errors)")
        self.messages.append(message)
        if not self.quiet:
            print(f"facade-wwr: warning: {message}", file=sys.stderr)
