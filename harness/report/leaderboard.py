"""The leaderboard: students of any number of runs ranked on one metric, the teacher as reference.

A student is one ``(suite, model, method)``; its rows from every run are
pooled by seed: each seed is one observation (rows of the same seed from
several runs are averaged first: training is deterministic per seed, so a
repeated seed is a repeated measurement, not new evidence about the method).
A metric is the mean over seeds with the 95% Student-t interval of that mean
(one seed: its own interval), computed by
:func:`harness.report.tables.aggregate`, so the leaderboard and the run report
agree on what an interval is (per-batch metrics: the envelope of the
observations' intervals). Latency and throughput are taken at one batch size
(default: the largest every model was measured at) on one device.

Shared rank where intervals overlap so no one claims a place the data does
not support: a row whose interval on the ranked metric overlaps that of
the first row of the group above (the row that holds rank k) takes rank k,
and ``tie`` reads ``=k``. Ties do not chain through wide intervals: a row is
compared with its group's first row, not the row just above it, so a run of
overlapping neighbours cannot tie the last with the first when those two are
clearly apart. A row that does not overlap opens a new group at its own
position (1, 1, 3).
When ``by`` is a speed metric (latency, throughput, speedup), two rows
whose values differ by less than the runs' A/A noise floor (the largest of
the runs' floors, :mod:`harness.report.noise`) share a rank as well. Ranked
on accuracy with the runs' per-example predictions, a paired test decides
instead (:func:`harness.report.ranking.paired_accuracy_tests`). Its unit is
the test example: runs of one suite content score the same test examples, so
each model's correctness on an example is averaged over its distinct
predictions in all the suite's runs and seeds (a cached model rerun, or seeds
that predict identically, count once: not new data), and the examples'
differences are tested exactly (the exact McNemar test with one distinct set
of predictions a side). Two students tie unless that test, Holm-adjusted
across every tested pair of the board's models (teacher included), gives
p < 0.05; a pair without predictions on the same examples ties where the
intervals overlap.
``pareto`` marks the rows (students and teacher alike) that no other row is
clearly better than on one axis while not clearly worse on the other, by the
same tests whatever the ranked metric: clearly more accurate by that paired
test where the two have one, else by disjoint 95% intervals; clearly faster
when the median latencies' intervals are disjoint and the difference exceeds
the noise floor (:func:`harness.report.ranking.pareto_flags`; a run report's
Pareto figure draws the same flags).
``speedup_vs_teacher`` is the stored paired metric (teacher p50 / model p50
from the same rounds); for runs without it (before schema 3) it is the
unpaired ratio of the teacher's p50 to the model's, and ``speedup_paired`` is
False.

Runs of different suite content (name or ``suite_hash``) are never pooled:
``harness leaderboard`` refuses them in one line, or with ``--per-suite``
ranks each content on a leaderboard of its own (:func:`for_suite_groups`),
titled with its suite name and short hash and what it changes from the
largest group (:mod:`harness.suite_diff`).

>>> from harness.report.leaderboard import pareto_flags
>>> pareto_flags(["a", "b", "c"], [0.9, 0.8, 0.8], [2.0, 1.0, 1.5])
{'a': True, 'b': True, 'c': False}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.metrics import METRICS, metric
from harness.report import scenarios
from harness.report.leaderboard_render import (  # noqa: F401  (the leaderboard's files, named here as before)
    LEGEND,
    SHOWN,
    WITH_INTERVAL,
    display_leaderboard,
    floor_statement,
    read_leaderboard,
    render_leaderboard_html,
    render_leaderboard_markdown,
    write_leaderboard,
)
from harness.report.noise import NoiseFloor, largest
from harness.report.ranking import (  # noqa: F401  (pareto_flags: named here as before)
    paired_accuracy_tests,
    pareto_column,
    pareto_flags,
    rank_rows,
    tie_statement,
)
from harness.report.tables import Estimate, aggregate, check_columns, devices, devices_by_threads
from harness.rows import Status
from harness.suite_diff import SuiteGroup, how_it_differs

#: a run whose manifest the leaderboard was not given
NO_MANIFEST = NoiseFloor(None, "its manifest was not read")
REFERENCE = "ref"
Row = dict[str, Any]
Key = tuple[str, str, str]


def _check_by(df: pd.DataFrame, by: str) -> None:
    present = set(df["metric"].dropna())
    allowed = [name for name in METRICS.names() if name in present]
    if by not in allowed:
        raise HarnessError(f"cannot rank by {by!r}: not a declared metric of these results "
                           f"(allowed: {', '.join(allowed) or 'none'})")


def _groups(df: pd.DataFrame) -> dict[Key, list[Row]]:
    """Rows per (suite, model, method); ``seed`` is the observation key (runs of one seed pool into it)."""
    grouped: dict[Key, list[Row]] = {}
    for record in df.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        grouped.setdefault((str(row["suite"]), str(row["model"]), str(row["method"])), []).append(row)
    return grouped


def _latency_batch_sizes(rows: list[Row], device: str | None) -> set[int]:
    return {int(r["batch_size"]) for r in rows if r["metric"] == "latency_p50_ms" and r["status"] == Status.OK
            and not pd.isna(r["batch_size"]) and (device is None or r["device"] == device)}


def _batch_size(groups: dict[Key, list[Row]], asked: int | None, device: str | None) -> int | None:
    """``asked`` when it was measured, else the largest batch size every model has a median latency at."""
    measured = {key: _latency_batch_sizes(rows, device) for key, rows in groups.items()}
    present = sorted(set().union(*measured.values()))
    if asked is not None:
        if asked not in present:
            raise HarnessError(f"no latency measured at batch size {asked} "
                               f"(batch sizes present: {', '.join(map(str, present)) or 'none'})")
        return asked
    if not present:
        return None
    common = set.intersection(*(sizes for sizes in measured.values() if sizes))
    if not common:
        raise HarnessError(f"no batch size is common to all models (present: {', '.join(map(str, present))}); "
                           "pass --batch-size")
    return max(common)


def _at(rows: list[Row], name: str, batch_size: int | None, device: str | None) -> list[Row]:
    """The rows of per-batch-size metric ``name`` at ``batch_size`` on ``device``."""
    return [r for r in rows if r["metric"] == name and not pd.isna(r["batch_size"])
            and r["batch_size"] == batch_size and (device is None or r["device"] == device)]


def _estimate(rows: list[Row], name: str, batch_size: int | None, device: str | None) -> Estimate:
    if not scenarios.closed_loop(name):  # a serving scenario's one value per model, at its own max_batch
        return aggregate([r for r in rows if r["metric"] == name and (device is None or r["device"] == device)])
    if metric(name).per_batch_size:
        return aggregate(_at(rows, name, batch_size, device))
    return aggregate([r for r in rows if r["metric"] == name and pd.isna(r["batch_size"])])


def _record(key: Key, rows: list[Row], by: str, batch_size: int | None, device: str | None) -> Row:
    suite, model, method = key
    names = SHOWN + ((by,) if by not in SHOWN else ())
    est = {name: _estimate(rows, name, batch_size, device) for name in names}
    paired = _at(rows, "speedup_vs_teacher", batch_size, device)  # none: a run before schema 3
    record: Row = {"role": str(rows[0]["role"]), "model": model, "method": method, "suite": suite,
                   "runs": len({r["run_id"] for r in rows}), "seeds": len({r["seed"] for r in rows})}
    for name in names:
        record[name] = est[name].value
        if name in WITH_INTERVAL or name == by:
            record[f"{name}_low"], record[f"{name}_high"] = est[name].low, est[name].high
    record["speedup_paired"] = bool(paired)
    notes = [f"{name}: {est[name].note}" for name in names if est[name].note
             and (name != "speedup_vs_teacher" or paired)]
    record["notes"] = "; ".join(notes)
    return record


def _unpaired_speedups(table: pd.DataFrame) -> pd.DataFrame:
    """Where a row has no paired speedup, the unpaired ratio of its suite's teacher p50 to its own."""
    teachers = table[table["role"] == "teacher"].drop_duplicates("suite").set_index("suite")["latency_p50_ms"]
    latency: dict[Any, float] = table["latency_p50_ms"].astype(float).to_dict()
    teacher_p50: dict[str, float] = {str(k): v for k, v in teachers.astype(float).to_dict().items()}
    for i in table.index[~table["speedup_paired"]]:
        own = latency[i]
        reference = teacher_p50.get(str(table.at[i, "suite"]), math.nan)
        table.at[i, "speedup_vs_teacher"] = reference / own if own and not math.isnan(own) else math.nan
    return table


def leaderboard(df: pd.DataFrame, by: str = "accuracy", batch_size: int | None = None,
                device: str | None = None, floors: Mapping[str, NoiseFloor] | None = None,
                predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Students of every run in ``df`` ranked on ``by``, the teacher(s) first as reference rows.

    Columns: rank ("ref" for a teacher, "—" when ``by`` is missing), tie ("=k" when the row shares rank k),
    model, method, suite, runs, seeds (distinct seeds), accuracy (+ ``_low``,
    ``_high``), params, size_bytes, latency_p50_ms (+ ``_low``, ``_high``) and throughput_sps at
    ``batch_size``, speedup_vs_teacher (+ ``_low``, ``_high``, ``speedup_paired``), ``by`` with its
    interval when it is none of these, pareto, notes (why a value is missing or partial), batch_size and
    device. ``floors`` (run id -> noise floor, :func:`harness.report.noise.read_noise_floors`) make speed
    differences under the largest floor of the ranked runs ties; ``attrs["noise_floors"]`` keeps them.
    ``predictions`` (:func:`harness.store.load_predictions` of the same runs) make accuracy ties, and the
    Pareto flags' accuracy comparisons whatever ``by``, paired tests over test examples; ``attrs["ties"]`` says
    how ties were decided.
    Raises :class:`HarnessError` for an empty table, a ``by`` that is not a declared metric of the results,
    a batch size that was not measured, or several devices without ``device``. A model timed as several
    backends or sequence lengths is ranked once per variant (:func:`harness.report.variants.split_variants`).
    """
    from harness.report.variants import split_variants

    check_columns(df)
    df = devices_by_threads(split_variants(df))  # backends, sequence lengths and thread counts never pool
    if df.empty:
        raise HarnessError("no results to rank: the results table is empty")
    _check_by(df, by)
    every, df = df, scenarios.ranked(df, by)  # single_stream rows; a serving metric's own rows where ranked on it
    found = devices(df)
    if device is not None and device not in found:
        raise HarnessError(f"no measurements on device {device!r} (found: {', '.join(found) or 'none'})")
    if device is None and len(found) > 1:
        raise HarnessError(f"results hold several devices ({', '.join(found)}); pass --device to pick one")
    device = device if device is not None else (found[0] if found else None)
    groups = _groups(df)
    batch_size = _batch_size(groups, batch_size, device)
    table = pd.DataFrame.from_records([_record(k, rows, by, batch_size, device) for k, rows in groups.items()])
    table = _unpaired_speedups(table)[[c for c in _columns(by) if c in table.columns]]
    run_floors = {str(run): (floors or {}).get(str(run), NO_MANIFEST) for run in pd.unique(df["run_id"])}
    floor_pct = largest(run_floors.values())
    runs = {str(k): {str(r) for r in v} for k, v in df.groupby("suite")["run_id"].unique().items()}
    tests = paired_accuracy_tests(table, runs, predictions)  # every row, the teacher's too: ranks and Pareto
    table["pareto"] = pareto_column(table, tests, floor_pct)
    teachers = table[table["role"] == "teacher"].sort_values(["suite", "model"], kind="stable")
    students = table[table["role"] != "teacher"].sort_values(
        [by, "suite", "model", "method"], ascending=[not metric(by).higher_is_better, True, True, True],
        na_position="last", kind="stable")
    ranks, ties = rank_rows(students, by, floor_pct, tests if by == "accuracy" else None)
    teachers.insert(0, "rank", REFERENCE)
    teachers.insert(1, "tie", "")
    students.insert(0, "rank", ranks)
    students.insert(1, "tie", ties)
    out = pd.concat([t for t in (teachers, students) if not t.empty], ignore_index=True).drop(columns="role")
    out["batch_size"] = pd.array([batch_size] * len(out), dtype="Int64")
    out["device"] = device
    out = out[[c for c in out.columns if c != "notes"] + ["notes"]]
    out.attrs.update(by=by, batch_size=batch_size, device=device, runs=int(df["run_id"].nunique()),
                     noise_floors=run_floors, ties=tie_statement(by, tests), scenarios=scenarios.ranked_note(every, by),
                     interval="bracket" if scenarios.is_capacity(every[every["metric"] == by]) else "95% CI")
    return out


def _columns(by: str) -> list[str]:
    """Column order: identity, counts, the shown metrics (with intervals), the ranked metric, the rest."""
    order = ["role", "model", "method", "suite", "runs", "seeds"]
    for name in SHOWN:
        order += [name] + ([f"{name}_low", f"{name}_high"] if name in WITH_INTERVAL or name == by else [])
    if by not in SHOWN:
        order += [by, f"{by}_low", f"{by}_high"]
    return order + ["speedup_paired", "notes"]


def for_suite_groups(groups: list[SuiteGroup], **options: Any) -> list[pd.DataFrame]:
    """One leaderboard per suite content (``options``: those of :func:`leaderboard`), each titled with its suite's
    name and short hash (``attrs["title"]``) and saying what it changes from the first, largest group's
    (``attrs["suite_note"]``). A single group keeps the plain title."""
    from harness.report.noise import read_noise_floors
    from harness.store import load_predictions, load_results

    tables = []
    for group in groups:
        df = load_results(*group.runs)
        if df.empty:
            raise HarnessError(f"no results under {', '.join(map(str, group.runs))}: nothing to rank")
        table = leaderboard(df, floors=read_noise_floors(group.runs), predictions=load_predictions(*group.runs),
                            **options)
        if len(groups) > 1:
            table.attrs["title"] = f"Leaderboard: {group.label}"
            table.attrs["suite_note"] = _suite_note(group, groups[0])
        tables.append(table)
    return tables


def _suite_note(group: SuiteGroup, first: SuiteGroup) -> str:
    if group is first:
        return (f"Suite {group.label}: {group.count}, the largest of the suite contents given; the others are "
                f"ranked on leaderboards of their own.")
    return f"Suite {group.label}: {group.count}; differs from {first.label} in {how_it_differs(group, first)}."
