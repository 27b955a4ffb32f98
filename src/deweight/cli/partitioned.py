"""``pcp``, ``correct`` and ``metrics`` on a HATS catalogue or a directory of Parquet files.

Used when CATALOG is a directory or ``--scheduler`` / ``--workers`` is given: the work is done by
:mod:`deweight.scale` on a Dask cluster (``--scheduler ADDRESS``: a running one; ``--workers N``: a
local one of N processes; neither: Dask's threaded scheduler in this process), one map-reduce per
pass, with progress per pass counted in partitions. Errors name the partition's file and the row
within it, as the file path's name the file and the row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from deweight._progress import Progress
from deweight.cli.messages import CommandError, located

#: A library error about one partition: ``FILE: MESSAGE``.
_PARTITION_MESSAGE = re.compile(r"^(?P<file>\S.*?\.parquet): (?P<rest>.*)$", re.DOTALL)


def wanted(args) -> bool:
    """Whether the command runs on partitions: CATALOG is a directory, or a cluster is named."""
    return Path(args.catalog).is_dir() or bool(args.scheduler) or args.workers is not None


def _dataset(args):
    """CATALOG as a partitioned dataset, refusing options that only files take."""
    if not Path(args.catalog).is_dir():
        if not Path(args.catalog).exists():
            raise FileNotFoundError(2, "No such file or directory", args.catalog)
        raise CommandError(
            f"{args.catalog} is a file; --scheduler and --workers need a directory (a HATS "
            "catalogue or a directory of Parquet files)"
        )
    if args.format not in (None, "parquet"):
        raise CommandError(
            f"{args.catalog} is a directory of Parquet files; --format must be parquet"
        )
    try:
        from deweight.scale import open_dataset
    except ImportError as error:
        raise CommandError(
            f"{args.catalog} is a directory: reading it needs the scale extra (pip install "
            f"'deweight[scale]'): {error}"
        ) from error
    return open_dataset(args.catalog)


@contextmanager
def naming_the_partition(columns) -> Iterator[None]:
    """Re-raise a library error about a row of one partition file as a one-line command error."""
    try:
        yield
    except ValueError as error:
        match = _PARTITION_MESSAGE.match(str(error))
        if match is None:
            raise
        message = located(match["rest"], Path(match["file"]), columns)
        if message == match["rest"]:
            message = f"{match['file']}: {match['rest']}"
        raise CommandError(message) from error


@contextmanager
def _client(args) -> Iterator:
    from deweight.scale import dask_client

    with dask_client(args.scheduler, args.workers) as client:
        yield client


def _progress(args, unit: str = "partitions") -> Progress:
    return Progress(unit=unit, enabled=not args.no_progress)


def solve_pcp(args, dataset, prior: np.ndarray, client):
    """The prediction-consistent prior by map-reduce passes, progress per pass."""
    from deweight.scale import prediction_consistent_prior

    options = {"method": args.method, "tol": args.tol, "atol": args.atol}
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    progress = _progress(args)
    try:
        with naming_the_partition(args.prob_cols):
            return prediction_consistent_prior(
                dataset, args.prob_cols, prior, client=client, progress=progress, **options
            )
    finally:
        progress.close()


def pcp(args, prior: np.ndarray):
    """``deweight pcp`` on a partitioned catalogue: the result and the catalogue's path."""
    dataset = _dataset(args)
    with _client(args) as client:
        return solve_pcp(args, dataset, prior, client), dataset.path


def correct(args, old_prior: np.ndarray, new_prior_of) -> int | None:
    """``deweight correct`` on a partitioned catalogue; the rows written, None if no prior.

    ``new_prior_of(solve)`` returns the prior to impose, calling ``solve(old_prior)`` for the
    prediction-consistent prior.
    """
    from deweight.scale import replace_prior, write_dataset

    dataset = _dataset(args)
    output = _checked_output_directory(args)
    names = [name + args.suffix for name in args.prob_cols]
    clashing = [name for name in names if name in dataset.schema.names]
    if clashing:
        raise CommandError(
            f"{dataset.path} already has column(s) {', '.join(clashing)}; choose another --suffix"
        )
    with _client(args) as client:
        new_prior = new_prior_of(lambda prior: solve_pcp(args, dataset, prior, client))
        if new_prior is None:
            return None
        lazy = replace_prior(
            dataset, args.prob_cols, old_prior, new_prior, suffix=args.suffix, atol=args.atol
        )
        with naming_the_partition(args.prob_cols):
            write_dataset(lazy, output, client=client)
    kind = "HATS catalogue" if dataset.kind == "hats" else "Parquet dataset"
    print(
        f"wrote {len(dataset.files):,} partitions to {output} ({kind}) with new column(s) "
        f"{', '.join(names)}"
    )
    return len(dataset.files)


def _checked_output_directory(args) -> Path:
    """``-o OUT`` for a partitioned catalogue: a directory to create (or replace) whole."""
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise CommandError(f"cannot write {output}: it is a file; give a directory name")
    if not output.parent.is_dir():
        raise CommandError(
            f"cannot write {output}: directory {output.parent} does not exist (create it first)"
        )
    if args.output_format not in (None, "parquet"):
        raise CommandError("a partitioned catalogue is written as Parquet; omit --output-format")
    if output.resolve() == Path(args.catalog).resolve():
        raise CommandError(f"cannot write {output} over its own input; give another directory")
    return output


def _partition_sums(values, extra, label, offset, classes, assigned_col, true_col, atol):
    """One partition's row count, expected counts (Eq. 9) and confusion matrix (on a worker)."""
    from deweight import metrics
    from deweight._validation import check_probabilities
    from deweight.cli.inputs import class_indices

    n_classes = len(classes)
    try:
        check_probabilities(values, atol=atol, row_offset=offset)
        assigned = class_indices(extra[assigned_col], classes, column=assigned_col, offset=offset)
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        if true_col:
            true = class_indices(extra[true_col], classes, column=true_col, offset=offset)
            confusion += np.bincount(
                true * n_classes + assigned, minlength=n_classes * n_classes
            ).reshape(n_classes, n_classes)
        counts = metrics.expected_counts(values, assigned) if values.shape[0] else None
    except (ValueError, CommandError) as error:
        raise ValueError(f"{label}: {error}") from error
    return values.shape[0], counts, confusion


def _summed(parts):
    n_rows = sum(part[0] for part in parts)
    counts = None
    for _, part_counts, _ in parts:
        if part_counts is not None:
            counts = part_counts if counts is None else counts + part_counts
    confusion = sum(part[2] for part in parts)
    return counts, n_rows, confusion


def metric_sums(args):
    """``deweight metrics`` on a partitioned catalogue: counts, rows, confusion, path."""
    from deweight.scale.partitions import map_reduce, partitions_of

    dataset = _dataset(args)
    extra = [args.assigned_col] + ([args.true_col] if args.true_col else [])
    with naming_the_partition(args.prob_cols):
        parts = partitions_of(dataset, args.prob_cols, extra)
    progress = _progress(args)
    progress.start("reading", len(parts.labels))
    try:
        with _client(args) as client, naming_the_partition(args.prob_cols):
            sums = map_reduce(
                parts,
                _partition_sums,
                list(args.prob_cols),
                args.assigned_col,
                args.true_col,
                args.atol,
                client=client,
                combine=_summed,
                on_done=lambda: progress.update(1),
                name="deweight-metrics",
            )
        progress.finish()
    finally:
        progress.close()
    return (*sums, dataset.path)
