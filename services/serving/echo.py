"""What an error quotes of a client's input, cut short: a 5,000-character id, a list of a thousand
ids or a 100,000-digit number is shown by its start and its size, never whole, so no error is
larger than the few hundred bytes it needs, whatever was sent.

`value` is for the JSON an error carries (`/predict`'s `input`), `text` for a sentence
(`/invocations`' MLflow-shaped `message`), `sentence` for a message written by someone else
(MLflow's scorer), which may quote the request itself.
"""

from __future__ import annotations

import math
from typing import Any

MAX_CHARS = 80  # of a string (or a number's digits) quoted
MAX_ITEMS = 5  # of a list or an object quoted
MAX_DEPTH = 8  # levels of a nested value quoted
MAX_SENTENCE = 1_000  # characters of a message written elsewhere


def value(given: Any, depth: int = 0) -> Any:
    """`given` made safe and short to write as JSON: a long string or list is cut, with how long
    it was; a NaN, a 100-digit integer or a value nested a thousand deep must not turn the 4xx
    into a 500 (deeper than `MAX_DEPTH`, a value is "...")."""
    if depth > MAX_DEPTH:
        return "..."
    if isinstance(given, str):
        return _cut(given)
    if isinstance(given, dict):
        items = list(given.items())
        shown = {_cut(str(k)): value(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            shown["..."] = f"{len(items) - MAX_ITEMS:,} more keys"
        return shown
    if isinstance(given, list | tuple):
        shown_items = [value(v, depth + 1) for v in given[:MAX_ITEMS]]
        if len(given) > MAX_ITEMS:
            shown_items.append(f"... {len(given) - MAX_ITEMS:,} more items")
        return shown_items
    if isinstance(given, float) and not math.isfinite(given):
        return str(given)
    if isinstance(given, int) and not isinstance(given, bool) and abs(given) >= 2**63:
        return _digits(given)
    return given


def text(given: Any) -> str:
    """`given` quoted in a sentence, as `repr` would, cut short."""
    return repr(value(given))


def sentence(message: str) -> str:
    """A message written elsewhere (which may quote the request), at most `MAX_SENTENCE` long."""
    if len(message) <= MAX_SENTENCE:
        return message
    return f"{message[:MAX_SENTENCE]}... ({len(message) - MAX_SENTENCE:,} more characters)"


def _digits(number: int) -> str:
    try:
        return _cut(str(number))
    except ValueError:  # more digits than Python writes (sys.set_int_max_str_digits)
        return f"an integer of {number.bit_length():,} bits"


def _cut(given: str) -> str:
    if len(given) <= MAX_CHARS:
        return given
    return f"{given[:MAX_CHARS]}... ({len(given):,} characters)"
