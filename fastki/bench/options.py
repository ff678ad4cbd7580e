"""The value types of the options of `python -m fastki bench` and `python -m fastki scale`.

Each turns the text of one option into its value or raises argparse.ArgumentTypeError, whose
message argparse prints after the option's name ("argument --size: ..."), so that a bad value
is one line that names the flag, never a traceback. Standard library only."""
import argparse
import math
from typing import Tuple


def whole_number(text: str) -> int:
    """A whole number from 1 up (--size, --repeat, --threads, --dask-bytes, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 up, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 up, not {text!r}")
    return value


def whole_numbers(text: str) -> Tuple[int, ...]:
    """A comma-separated list of whole numbers from 1 up (--thread-counts 1,2,4)."""
    parts = text.split(",")
    try:
        return tuple(whole_number(part.strip()) for part in parts)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be whole numbers from 1 up separated by commas (e.g. 1,2,4), not {text!r}"
        ) from None


def counts_from_zero(text: str) -> Tuple[int, ...]:
    """A comma-separated list of whole numbers from 0 up (--loaded-busy 0,2,5)."""
    try:
        counts = tuple(int(part.strip()) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 0:
        raise argparse.ArgumentTypeError(
            f"must be whole numbers from 0 up separated by commas (e.g. 0,2,5), not {text!r}")
    return counts


def positive_real(text: str) -> float:
    """A finite number above 0 (--scale-gib 0.5)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value
