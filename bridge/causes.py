"""A failure's cause in words a DBA can act on, read from the exception's text.

Each user keeps its own registry: (pattern, meaning) pairs read in order, the first that
matches says it; a meaning gets the match and a context (timeouts, the config) to name the
setting involved. What no pattern knows is the exception's class and first line.
Shared by the LDAP outage messages (bridge/backends/ldapcauses.py) and the state engine's
(bridge/state/engine.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

Context = TypeVar("Context")
MAX_CAUSE = 200  # characters of an unrecognised error's text kept


def fixed(text: str) -> Callable[[re.Match[str], object], str]:
    """A meaning that is the same whatever matched."""
    return lambda _found, _context: text


def first_cause(
    text: str,
    causes: Sequence[tuple[re.Pattern[str], Callable[[re.Match[str], Context], str]]],
    context: Context,
    exc: BaseException,
) -> str:
    """The meaning of the first pattern found in `text`; else `exc`'s class and first line."""
    for pattern, meaning in causes:
        found = pattern.search(text)
        if found:
            return meaning(found, context)
    first = (str(exc).splitlines() or [""])[0][:MAX_CAUSE]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
