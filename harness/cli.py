"""The ``harness`` command line.

    harness run SUITE [--set KEY=VALUE]... [--out RESULTS_DIR] [--resume RUN_DIR] [--shard I/N]
                      [--executor local|ray [--address A]]
                                              train/load, measure, write a run (last line: the run directory)
    harness merge RUN_DIR... --out RESULTS_DIR  merge the shards of one suite into one run directory
    harness hardware RUN_DIR... [--reference LABEL] [--out DIR]
                                              compare machines: reports/hardware/<suite>/{index.html,report.md}
    harness validate SUITE [--set KEY=VALUE]...  check a suite without running it
    harness report RUN_DIR... [--out DIR]     write reports/<suite>/<run_id>/{index.html,report.md} + PNGs
    harness leaderboard RUN_DIR... [--by METRIC] [--batch-size N] [--device D] [--out DIR] [--per-suite]
                                              rank students across runs and seeds (md, html, csv)
    harness baseline save RUN_DIR --name NAME [--dir DIR] [--force] | baseline list [--dir DIR]
                                              keep a finished run as a baseline (results/baselines/NAME)
    harness compare BASELINE CANDIDATE [--suite SUITE [--set KEY=VALUE]...] [--format text|markdown|json] [--out FILE]
                    [--allow-hardware-change | --skip-hardware-gates]
                                              check the gates: exit 0 all hold, 1 one fails, 2 bad input/refused
    harness verify RUN_DIR...                 check runs are whole (sha256 of each file, readable tables): 0 or 2
    harness list [KIND [NAME]]                what the registries hold; with NAME, that component's parameters

Bad input is one line on stderr and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.signals import sigterm_as_interrupt

EPILOG = """exit codes: 0 success; 1 a run finished but some cells failed (compare: a gate failed); 2 bad input
(one line on stderr; compare: also a gate refused because the hardware differs); 130 interrupted.
Environment: HARNESS_CACHE_DIR sets where trained models are cached."""


def _parser() -> argparse.ArgumentParser:
    from harness import __version__

    parser = argparse.ArgumentParser(prog="harness", description="Benchmark compressed models against their teacher.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite end to end and write a run directory",
                         description="Build the teacher and every student (from the model cache where possible), "
                                     "measure them, write results/<suite>/<run_id>/ and a report. "
                                     "The last line printed is the run directory.")
    run.add_argument("suite", type=Path, help="suite YAML file")
    _add_set(run)
    run.add_argument("--out", type=Path, default=Path("results"), help="results directory (default: results/)")
    run.add_argument("--reports", type=Path, default=Path("reports"), help="reports directory (default: reports/)")
    run.add_argument("--no-report", action="store_true", help="do not write the report after the run")
    run.add_argument("--no-cache", action="store_true", help="rebuild every model; neither read nor write the cache")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="continue an interrupted run of the same suite: measure only the models it lacks")
    run.add_argument("--shard", metavar="I/N",
                     help="run only shard I of N (1-based): every N-th model of the suite; merge the shards' "
                          "run directories with harness merge")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local (default): in this process; ray: students built as parallel Ray tasks, each "
                          "measure cell a Ray task owning a node's CPUs or a GPU (pip install -e '.[ray]')")
    run.add_argument("--address", metavar="ADDR",
                     help="with --executor ray: the Ray cluster to join (default: start a local instance)")

    merge = sub.add_parser("merge", help="merge the run directories of a suite's shards into one run",
                           description="Check that the runs are shards of one suite (same suite hash), that "
                                       "every model is in exactly one of them, then write one run directory "
                                       "under --out holding all their rows; prints it on the last line.")
    merge.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="a shard's run directory")
    merge.add_argument("--out", type=Path, required=True, help="results directory of the merged run")

    hw = sub.add_parser("hardware", help="compare machines (or thread counts, dtypes) that ran the same suite",
                        description="Group the runs' cells by hardware fingerprint plus the threads and the "
                                    "dtype the suite asked for (an int8 student is a model, not a machine); "
                                    "write report.md and a self-contained index.html with "
                                    "latency, throughput, memory and energy per machine, speedups against "
                                    "the reference, and what else differs between the machines.")
    hw.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directory or a folder above runs")
    hw.add_argument("--reference", metavar="LABEL",
                    help="the machine the others are compared with (a label from the report, or the parts of "
                         "one that no other label has, e.g. '1 thread'; default: the first)")
    hw.add_argument("--out", type=Path, default=Path("reports/hardware"),
                    help="output directory (default: reports/hardware/); the report goes in <out>/<suite>/")

    validate = sub.add_parser("validate", help="check a suite without running it",
                              description="Exit 0 for a valid suite; otherwise print one line "
                                          "FILE:LINE: field.path: what is wrong, and exit 2. The dataset is "
                                          "loaded too (a data file read, split and encoded) and each model "
                                          "checked against it (an hf model's vocabulary against the tokenizer): "
                                          "a problem there is one line FILE: what is wrong, exit 2.")
    validate.add_argument("suite", type=Path, help="suite YAML file")
    _add_set(validate)

    report = sub.add_parser("report", help="write the HTML and Markdown reports from stored results",
                            description="Write <out>/<suite>/<run_id>/index.html (self-contained, figures "
                                        "embedded), report.md and the figures as PNG beside it, for each run "
                                        "directory; prints each index.html path.")
    report.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directory")
    report.add_argument("--out", type=Path, default=Path("reports"), help="reports directory (default: reports/)")

    board = sub.add_parser("leaderboard", help="rank students across runs and seeds",
                           description="Rank the students of every run given on one metric (mean and 95% interval "
                                       "over all runs and seeds), the teacher as reference; shared rank where "
                                       "intervals overlap, or ranked on accuracy with per-example predictions, "
                                       "where the exact paired test between two students over the test examples "
                                       "(each example once; McNemar with one seed a side; Holm-adjusted) finds no "
                                       "difference. Writes leaderboard.md, .html and .csv. Runs of "
                                       "different suites, or of one suite whose content differs, are refused "
                                       "unless --per-suite.")
    board.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directory or a folder above runs")
    board.add_argument("--by", default="accuracy", metavar="METRIC",
                       help="metric to rank by (default: accuracy); a latency is the closed-loop (single_stream) one; "
                            "max_qps_at_slo ranks by the server scenario's capacity, with its search bracket")
    board.add_argument("--batch-size", type=int, metavar="N",
                       help="batch size of latency and throughput (default: the largest common to all models)")
    board.add_argument("--device", metavar="D", help="device of latency and throughput (needed when there are several)")
    board.add_argument("--out", type=Path, default=Path("reports/leaderboard"),
                       help="output directory (default: reports/leaderboard/)")
    board.add_argument("--per-suite", action="store_true",
                       help="runs of several suites, or of one suite's different contents (suite_hash): rank each "
                            "content on a leaderboard of its own, in OUT/SUITE-HASH/, instead of refusing")

    _add_gate_commands(sub)

    check = sub.add_parser("verify", help="check that runs are whole: each file's sha256, readable tables",
                           description="Each RUN_DIR (or every run below a folder): the manifest parses, every "
                                       "file it records holds the bytes that were written (sha256) and reads as a "
                                       "table of the run's schema. One line per run; exit 2 if any is damaged.")
    check.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    listing = sub.add_parser("list", help="list datasets, architectures, methods and metrics, or one's parameters",
                             description="Without NAME: every registered name of KIND (default: every kind). With "
                                         "NAME: that component's parameters as a suite writes them: name, type, "
                                         "default, bounds and meaning (a metric: its unit and direction).")
    listing.add_argument("kind", nargs="?", choices=["datasets", "architectures", "methods", "metrics"],
                         metavar="KIND", help="datasets, architectures, methods or metrics")
    listing.add_argument("name", nargs="?", metavar="NAME",
                         help="one component of KIND, e.g. harness list methods prune")
    return parser


def _add_set(parser: argparse.ArgumentParser, when: str = "") -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help=f"{when}override a value of the suite file, before it is validated (repeatable, applied "
                             "in order); KEY: dotted keys and list items by index or name, VALUE: YAML, e.g. "
                             "--set measure.batch_sizes=[1,8] --set 'students[0].method.epochs=5' (run: recorded "
                             "in the manifest's overrides; the suite hash covers the result)")


def _add_gate_commands(sub: argparse._SubParsersAction) -> None:
    from harness.baseline import DEFAULT_DIR

    baseline = sub.add_parser("baseline", help="save or list baselines (finished runs kept to compare against)")
    actions = baseline.add_subparsers(dest="action", required=True, metavar="ACTION")
    save = actions.add_parser("save", help="copy a finished run to DIR/NAME (rows, raw samples, manifest)")
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a complete run directory")
    save.add_argument("--name", required=True, help="baseline name (letters, digits, _.+-)")
    save.add_argument("--force", action="store_true", help="replace a baseline of that name")
    listed = actions.add_parser("list", help="list the baselines in DIR")
    for p in (save, listed):
        p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"baselines directory (default: {DEFAULT_DIR}/)")

    compare = sub.add_parser("compare", help="check a candidate run against a baseline's gates (for CI)",
                             description="Evaluate every gate of every model: a change fails only when it is beyond "
                                         "the bound and significant (accuracy: the exact paired test over test "
                                         "examples, each once; latency: Mann-Whitney U on each paired round's own "
                                         "statistic, the precision of each run, not its drift; Welch t across "
                                         "seeds; else the stored intervals, as for speedup_vs_teacher) and, for "
                                         "timings, above the runs' A/A noise floor; each result names its evidence. "
                                         "A serving scenario's cell (each server target rate, max_qps_at_slo) keeps "
                                         "no samples and is judged on its values against the bound alone. A noisy "
                                         "cell (flagged, or measured on a busy machine) or an undecidable one (too "
                                         "few rounds to reach alpha) beyond its bound follows the suite's "
                                         "gate_policy.noisy: fail (default) or rerun (stored runs are not measured "
                                         "again: it fails) exit 1, warn passes with a warning. A candidate of "
                                         "another suite is refused; one of the same suite with other content is "
                                         "compared, and what differs is named. Exit 0 every gate holds, 1 a gate "
                                         "fails, 2 bad input (another suite) or a gate refused because the "
                                         "hardware differs.")
    compare.add_argument("baseline", metavar="BASELINE", help="baseline name (in --baselines) or run directory")
    compare.add_argument("candidate", metavar="CANDIDATE", help="run directory (or baseline name)")
    compare.add_argument("--suite", type=Path,
                         help="take the gates and gate_policy from this suite (default: the candidate's)")
    _add_set(compare, "with --suite: ")
    compare.add_argument("--baselines", type=Path, default=DEFAULT_DIR,
                         help=f"where baseline names are looked up (default: {DEFAULT_DIR}/)")
    compare.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="output format")
    compare.add_argument("--out", type=Path, metavar="FILE", help="also write the output to FILE")
    hardware = compare.add_mutually_exclusive_group()
    hardware.add_argument("--allow-hardware-change", action="store_true",
                          help="compare latency, memory and energy even when the hardware fingerprints differ")
    hardware.add_argument("--skip-hardware-gates", action="store_true",
                          help="when the hardware differs, skip those gates instead of refusing them (exit unaffected)")


def cmd_baseline(args: argparse.Namespace) -> int:
    from harness.baseline import list_baselines, save_baseline

    if args.action == "save":
        print(save_baseline(args.run_dir, args.name, args.dir, args.force))
        return 0
    from tabulate import tabulate

    found, damaged = list_baselines(args.dir)
    rows = [[b.name, b.manifest.suite_name, b.manifest.run_id, b.info.get("saved_at", "-"),
             b.manifest.hardware.cpu, b.manifest.git_commit] for b in found]
    print(tabulate(rows, headers=["name", "suite", "run", "saved", "cpu", "commit"]) if rows
          else f"no {'whole ' if damaged else ''}baselines in {args.dir}")
    if damaged:  # the first on stderr as the one line; harness verify lists every problem
        more = f" (and {len(damaged) - 1} more: harness verify {args.dir})" if len(damaged) > 1 else ""
        print(damaged[0] + more, file=sys.stderr)
        return 2
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.baseline import locate
    from harness.compare import RunData, compare_runs
    from harness.report.compare import render_comparison

    if args.overrides and args.suite is None:
        raise HarnessError(f"--set {args.overrides[0]}: --set changes the suite given with --suite: give one")
    baseline = RunData.load(locate(args.baseline, args.baselines))
    candidate = RunData.load(locate(args.candidate, args.baselines))
    gates, policy = None, None
    if args.suite is not None:
        from harness.suite import load_suite

        suite = load_suite(args.suite, args.overrides)
        gates, policy = suite.gates_by_model(), suite.gate_policy

    result = compare_runs(baseline, candidate, gates, allow_hardware_change=args.allow_hardware_change,
                          skip_hardware_gates=args.skip_hardware_gates, names=(args.baseline, args.candidate),
                          policy=policy)
    text = render_comparison(result, args.format)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result.exit_code


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.preflight import validate

    print(validate(args.suite, args.overrides))
    return 0


def write_report(run_dir: Path, reports_dir: Path) -> Path:
    """Write reports_dir/<suite>/<run_id>/{index.html, report.md, figure PNGs}; return index.html's path."""
    from harness.report import write_html_report
    from harness.store import load_predictions, load_results, read_manifest

    manifest = read_manifest(run_dir)
    out = reports_dir / manifest.suite_name / manifest.run_id
    return write_html_report(load_results(run_dir), manifest, out, load_predictions(run_dir))


def cmd_run(args: argparse.Namespace) -> int:
    from harness.cache import ModelCache, default_cache_dir
    from harness.executors import make_executor
    from harness.plan import Shard
    from harness.runner import RunInterrupted, run_suite
    from harness.suite import load_suite

    shard = Shard.parse(args.shard) if args.shard else None
    if args.address and args.executor != "ray":
        raise HarnessError("--address applies to --executor ray")
    suite = load_suite(args.suite, args.overrides)
    executor = make_executor(args.executor, args.address)
    cache = None if args.no_cache else ModelCache(default_cache_dir())
    try:
        with sigterm_as_interrupt():  # a CI job's cancel stops as cleanly as Ctrl-C
            writer = run_suite(suite, args.out, cache, resume=args.resume, shard=shard, executor=executor)
    except RunInterrupted as stop:
        kept = len(stop.writer.done_models())
        print(f"harness: interrupted; {kept} models measured are kept. Resume with: "
              f"harness run {args.suite}{''.join(f' --set {shlex.quote(o)}' for o in args.overrides)} "
              f"--resume {stop.writer.run_dir}", file=sys.stderr)
        print(stop.writer.run_dir)
        return 130
    if not args.no_report:
        print(f"report: {write_report(writer.run_dir, args.reports)}")
    from harness.report.failures import counts

    manifest = writer.manifest
    print(f"summary: {len(writer.done_models())} models, {counts(writer.rows(), manifest).rstrip('.')}; "
          f"{manifest.failed_models} models with failed measurements")
    failed = manifest.failed_rows
    if failed:
        print(f"harness: {failed} measurements failed; their rows carry the error (see the report)", file=sys.stderr)
    print(writer.run_dir)
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.store import run_dirs

    for path in args.run_dirs:
        for run_dir in run_dirs(path):
            print(write_report(run_dir, args.out))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.report.leaderboard import for_suite_groups, render_leaderboard_markdown, write_leaderboard
    from harness.suite_diff import read_groups, refuse_mixed

    groups = read_groups(args.run_dirs)
    if not args.per_suite:
        refuse_mixed(groups, "--per-suite")
    tables = for_suite_groups(groups, by=args.by, batch_size=args.batch_size, device=args.device)
    outs = [args.out] if len(groups) == 1 else [args.out / g.folder for g in groups]
    print("\n".join(render_leaderboard_markdown(table) for table in tables))
    for table, out in zip(tables, outs, strict=True):
        for path in write_leaderboard(table, out).values():
            print(path)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.merge import merge_runs

    merged = merge_runs(args.run_dirs, args.out)
    print(f"merged {len(args.run_dirs)} shards: {merged.manifest.row_counts}")
    print(merged.run_dir)
    return 0


def cmd_hardware(args: argparse.Namespace) -> int:
    from harness.report.hardware_report import write_hardware_report

    print(write_hardware_report(args.run_dirs, args.out, reference=args.reference))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.data import DATASETS
    from harness.doctext import first_sentence
    from harness.methods import METHODS
    from harness.metrics import METRICS
    from harness.models import ARCHITECTURES

    if args.name is not None:
        from harness.reference import component, component_text

        print(component_text(component(args.kind, args.name)))
        return 0
    registries = {"datasets": DATASETS, "architectures": ARCHITECTURES, "methods": METHODS, "metrics": METRICS}
    for kind, registry in registries.items():
        if args.kind not in (None, kind):
            continue
        print(f"{kind}:")
        for name, item in registry.items():
            doc = getattr(item, "summary", None) or getattr(item, "description", None) or (item.__doc__ or "")
            unit = f" [{item.unit}]" if hasattr(item, "unit") else ""
            print(f"  {name:<20}{unit} {first_sentence(doc)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.verify import verify

    verdicts = verify(args.run_dirs)
    for verdict in verdicts:
        print(verdict.line())
    damaged = sum(not v.whole for v in verdicts)
    print(f"{len(verdicts)} runs: {len(verdicts) - damaged} whole, {damaged} damaged", file=sys.stderr)
    return 2 if damaged else 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "report": cmd_report, "list": cmd_list,
            "leaderboard": cmd_leaderboard, "baseline": cmd_baseline, "compare": cmd_compare, "merge": cmd_merge,
            "hardware": cmd_hardware, "verify": cmd_verify}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (harness leaderboard ... | head): end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's own flush must not fail
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
