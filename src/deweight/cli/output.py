"""The one place for the output of the commands that write a catalogue (``correct``, ``calibrate``).

* :func:`add_output_arguments`: the options ``-o/--output``, ``--output-format`` and ``--suffix``;
* :func:`checked_output` and :func:`new_columns`: the checks made before any pass over the data,
  so that an output that cannot be written, an empty input or a clashing suffix fail at once;
* :func:`write_columns`: the catalogue with its new columns, written to a hidden temporary file
  beside the output and renamed into place only when complete (atomic: an interrupted or failed
  write leaves no partial file), with a progress bar and errors that name the file.

Only the standard library is imported at the top: the parser uses this module too.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deweight._formats import FORMATS
from deweight._progress import Progress
from deweight.cli.messages import CommandError, naming_the_file, shifted_rows

if TYPE_CHECKING:
    import numpy as np

    from deweight import io

#: Rows per block when writing a catalogue with every column (``correct``, ``calibrate``): a wide
#: catalogue of 2**20 rows is already a few hundred megabytes.
CORRECT_CHUNK_ROWS = 1 << 20


def add_output_arguments(
    subcommand: argparse.ArgumentParser, *, suffix: str, directories: bool = False
) -> None:
    """The output options of a command that writes new probability columns to a file (or, with
    ``directories``, to a directory when its input is one)."""
    help_text = "output file (a directory, written whole, when CATALOG is one)"
    subcommand.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help=help_text if directories else "output file",
    )
    subcommand.add_argument(
        "--output-format",
        choices=FORMATS,
        default=None,
        help="format of OUT (default: from its file name)",
    )
    subcommand.add_argument(
        "--suffix", default=suffix, help=f"added to each column name (default {suffix})"
    )


def checked_output(args) -> Path:
    """``-o OUT`` as a path, refused before any work if it cannot be written, saying why."""
    output = Path(args.output)
    directory = output.parent
    if output.is_dir():
        raise CommandError(f"cannot write {output}: it is a directory; give a file name")
    if not directory.exists():
        raise CommandError(
            f"cannot write {output}: directory {directory} does not exist (create it first)"
        )
    if not directory.is_dir():
        raise CommandError(f"cannot write {output}: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write {output}: no permission to create files in {directory}")
    return output


def new_columns(
    args, catalog: io.Catalog, output: Path, *, verb: str, check_empty: bool = True
) -> list[str]:
    """Names of the new columns, ``COLUMN+SUFFIX``, checked against the catalogue's columns.

    With ``check_empty``, an empty catalogue is refused too (there is nothing to ``verb``).
    """
    from deweight.cli.inputs import has_no_rows

    if check_empty and has_no_rows(args, catalog):
        raise CommandError(
            f"{catalog.path} has no rows; not writing {output} (an empty catalogue has nothing "
            f"to {verb})"
        )
    names = [name + args.suffix for name in args.prob_cols]
    clashing = [name for name in names if name in catalog.columns_available]
    if clashing:
        raise CommandError(
            f"{catalog.path} already has column(s) {', '.join(clashing)}; choose another --suffix"
        )
    return names


def write_columns(
    args,
    catalog: io.Catalog,
    output: Path,
    names: Sequence[str],
    transform: Callable[[np.ndarray], np.ndarray],
) -> int:
    """Write ``catalog`` with the columns ``names`` = ``transform(probabilities)``, atomically.

    ``transform`` sees one block of rows at a time, in order; a ``probs row N`` in its error is
    shifted to the row of the file. Prints and returns the number of rows written.
    """
    from deweight import io

    rows_done = 0

    def block(values: np.ndarray) -> np.ndarray:
        nonlocal rows_done
        try:
            result = transform(values)
        except ValueError as error:
            raise ValueError(shifted_rows(str(error), rows_done)) from error
        rows_done += values.shape[0]
        return result

    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    progress.start(f"writing {output.name}", catalog.n_rows)
    try:
        with naming_the_file(catalog.path, args.prob_cols):
            n_rows = io.write_catalog_with_columns(
                catalog,
                output,
                list(names),
                block,
                file_format=args.output_format,
                on_rows=progress.update,
            )
        progress.finish()
    except OSError as error:
        # The writer works on a hidden temporary file beside the output; name the output.
        hidden = error.filename and Path(error.filename).name.startswith(f".{output.name}.")
        if not hidden:
            raise
        raise CommandError(f"cannot write {output}: {error.strerror or error}") from error
    finally:
        progress.close()
    print(f"wrote {n_rows:,} rows to {output} with new column(s) {', '.join(names)}")
    return n_rows
