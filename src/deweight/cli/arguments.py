"""Types that parse option values of the ``deweight`` command (standard library only)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence


def names(text: str) -> list[str]:
    """Split ``"a,b,c"`` into names, rejecting empty ones."""
    parts = [name.strip() for name in text.split(",")]
    if not text.strip() or any(not name for name in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return parts


def class_columns(text: str) -> list[str]:
    """``--prob-cols``: at least two distinct column names, one per class."""
    parts = names(text)
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} names one class column; give the probability columns of at least two "
            "classes (over one class every prior is 1, so there is nothing to estimate or "
            "correct)"
        )
    repeated = sorted({name for name in parts if parts.count(name) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"column(s) {', '.join(repeated)} named twice in {text!r}")
    return parts


def numbers(text: str) -> list[float]:
    """Split ``"0.2,0.3,0.5"`` into floats."""
    try:
        values = [float(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    return values


def prior_or_keyword(keywords: Sequence[str]):
    """Argument type accepting a comma-separated prior or one of ``keywords``."""

    def parse(text: str):
        if text.strip().lower() in keywords:
            return text.strip().lower()
        try:
            return numbers(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated probabilities or one of {', '.join(keywords)}, "
                f"got {text!r}"
            ) from None

    return parse


def positive_int(text: str) -> int:
    """A positive integer; ``_`` may group digits (``1_000_000``)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite positive number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value
