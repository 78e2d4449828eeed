"""The Markdown report of one run: machine, models, a summary per batch size, failures, findings.

Numbers come from :mod:`harness.report.tables`; this module only formats them
(:mod:`harness.report.formatting`) and words the findings. A missing value is
shown as "—" with its reason listed under its table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.metrics import metric
from harness.report import noise, tables
from harness.report.formatting import MISSING, format_interval, format_value, header, markdown_table, table_cell
from harness.report.speed import speed_findings
from harness.report.variants import base_model, one_per_model

LEGEND = ("Intervals are 95%: with one seed the measurement's own (bootstrap for accuracy, bootstrap over paired "
          "rounds for latency and speedup), with several seeds a Student-t interval of the mean across seeds. Drop "
          "is teacher accuracy minus model accuracy in percentage points; ratios are teacher / model, so 10.00x "
          "means ten times fewer. Speedup vs teacher is teacher p50 / model p50 from the same paired, interleaved "
          "rounds (speedup_vs_teacher), so 10.00x means ten times faster. — marks a missing value; the reason is "
          "listed under the table.")
UNPAIRED = "unpaired"


def _column(table: pd.DataFrame, out: pd.DataFrame, label: str, key: str, unit: str) -> None:
    out[header(label, unit)] = [format_value(v, unit) for v in table[key]]


def _interval_column(table: pd.DataFrame, out: pd.DataFrame, label: str, key: str, unit: str) -> None:
    ends = zip(table[f"{key}_low"], table[f"{key}_high"], strict=True)
    out[header(label, unit)] = [format_interval(low, high, unit) for low, high in ends]


def display_summary(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`~harness.report.tables.summary_table` as strings; dtype shown only when there are several."""
    out = pd.DataFrame({"model": table["model"], "method": table["method"]})
    if table["dtype"].nunique(dropna=False) > 1:
        out["dtype"] = table["dtype"]
    out["seeds"] = table["seeds"].astype(str)
    acc, lat = metric("accuracy").unit, metric("latency_p50_ms").unit
    _column(table, out, "accuracy", "accuracy", acc)
    _interval_column(table, out, "acc 95% CI", "accuracy", acc)
    _column(table, out, "drop vs teacher", "drop_pp", "pp")
    _column(table, out, "params", "params", metric("params").unit)
    _column(table, out, "params ratio", "params_ratio", "x")
    _column(table, out, "size", "size_bytes", metric("size_bytes").unit)
    _column(table, out, "size ratio", "size_ratio", "x")
    _column(table, out, "latency p50", "latency_p50_ms", lat)
    _interval_column(table, out, "p50 95% CI", "latency_p50_ms", lat)
    if "latency_iqr_over_median" in table:
        out["noise (IQR/p50)"] = [MISSING if pd.isna(v) else f"{100 * v:.0f}%" + (" noisy" if v > tables.NOISY else "")
                                  for v in table["latency_iqr_over_median"]]
    out[header("speedup vs teacher", "x")] = [format_value(v, "x") + ("" if paired else f" ({UNPAIRED})")
                                              if not pd.isna(v) else MISSING
                                              for v, paired in zip(table["speedup"], table["speedup_paired"],
                                                                   strict=True)]
    _interval_column(table, out, "speedup 95% CI", "speedup", "x")
    _column(table, out, "throughput", "throughput_sps", metric("throughput_sps").unit)
    _column(table, out, "peak memory", "peak_memory_bytes", metric("peak_memory_bytes").unit)
    if "energy_j_per_sample" in table:  # only runs that measured energy (cuda with NVML) have the column
        _column(table, out, "energy per sample", "energy_j_per_sample", metric("energy_j_per_sample").unit)
    return out


def display_models(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`~harness.report.tables.model_table` as strings: model, role, method, seeds, sizes, train time."""
    out = table[["model", "role", "method", "seeds"]].copy()
    for label, name in (("params", "params"), ("nonzero", "params_nonzero"), ("size", "size_bytes"),
                        ("sparse size", "size_bytes_sparse"), ("flops", "flops"), ("train", "train_seconds")):
        if name in table:
            _column(table, out, label, name, metric(name).unit)
    return out


def _missing_notes(table: pd.DataFrame) -> list[str]:
    """One bullet per (metric, reason), naming its models, or 'all models'."""
    models: dict[tuple[str, str], list[str]] = {}
    for row in table.to_dict("records"):
        for name, reason in row["missing"].items():
            models.setdefault((name, reason), []).append(str(row["model"]))
    return [f"- {name} ({'all models' if len(who) == len(table) else ', '.join(who)}): {table_cell(reason)}"
            for (name, reason), who in models.items()]


def _section(manifest: dict[str, Any], key: str) -> dict[str, Any]:
    """``manifest[key]`` when it is a dict, else an empty one (old or partial manifests)."""
    value = manifest.get(key)
    return value if isinstance(value, dict) else {}


def _title(df: pd.DataFrame, manifest: dict[str, Any]) -> str:
    suite = _section(manifest, "suite")
    name = suite.get("name") or (df["suite"].iloc[0] if "suite" in df.columns else "unknown suite")
    run_id = manifest.get("run_id") or (df["run_id"].iloc[0] if "run_id" in df.columns else "unknown run")
    known = {"suite version": suite.get("version"), "started": manifest.get("started_at"),
             "finished": manifest.get("finished_at"), "status": manifest.get("status"),
             "harness": manifest.get("harness_version")}
    facts = ", ".join(f"{label} {value}" for label, value in known.items() if value not in (None, ""))
    return f"# {name}: run {run_id}" + (f"\n\n{facts[0].upper()}{facts[1:]}." if facts else "")


def _hardware_value(hardware: dict[str, Any], key: str) -> str:
    if key not in hardware:
        return "unknown"
    value = hardware[key]
    if key == "ram_bytes" and isinstance(value, (int, float)):
        return f"{value / 2**30:.1f} GiB"
    if key == "gpu":
        gpus = value if isinstance(value, list) else [value] if value else []
        names = [g.get("name", json.dumps(g, sort_keys=True)) if isinstance(g, dict) else str(g) for g in gpus]
        return ", ".join(names) or "none"
    return "unknown" if value in (None, "") else str(value)


def _machine(manifest: dict[str, Any]) -> str:
    hardware = dict(_section(manifest, "hardware"))
    if "cores" not in hardware and hardware.get("cores_logical"):
        physical = hardware.get("cores_physical")
        hardware["cores"] = f"{hardware['cores_logical']} logical" + (f", {physical} physical" if physical else "")
    shown = (("CPU", "cpu"), ("Cores", "cores"), ("RAM", "ram_bytes"), ("GPU", "gpu"), ("Driver", "driver"),
             ("CUDA", "cuda"), ("torch", "torch"), ("Python", "python"), ("Threads", "threads"))
    lines = [f"- {label}: {_hardware_value(hardware, key)}" for label, key in shown
             if hardware.get(key) or key not in ("driver", "cuda")]
    floor = noise.sentence(noise.noise_floor(manifest), detail=True)
    return "\n".join(["## Machine", "", *lines, f"- Commit: {manifest.get('git_commit') or 'unknown'}",
                      f"- {floor}"])


def speedup_note(table: pd.DataFrame) -> str | None:
    """A line saying which models' speedup is the unpaired ratio of p50s (no ``speedup_vs_teacher`` rows)."""
    if "speedup_paired" not in table or table["speedup_paired"].all():
        return None
    models = [str(m) for m in table.loc[~table["speedup_paired"], "model"]]
    who = "every model" if len(models) == len(table) else ", ".join(models)
    return (f"Speedup of {who} ({UNPAIRED}): teacher p50 / model p50 timed in separate windows, without an "
            "interval; these results have no paired speedup_vs_teacher (a run before schema 3), so a machine "
            "that changed speed between the windows is part of the ratio.")


def _with_notes(heading: str, table: pd.DataFrame, shown: pd.DataFrame) -> str:
    notes = _missing_notes(table)
    unpaired = speedup_note(table)
    return "\n".join([heading, "", markdown_table(shown), *(["", unpaired] if unpaired else []),
                      *(["", "Missing values:", "", *notes] if notes else [])])


def _results(df: pd.DataFrame) -> str | None:
    sections = []
    for device in tables.devices(df):
        on_device = df[df["device"] == device]
        for size in tables.batch_sizes(on_device):
            table = tables.summary_table(df, size, device=device)
            sections.append(_with_notes(f"### Batch size {size} ({device})", table, display_summary(table)))
    return "\n\n".join(["## Results by batch size", LEGEND, *sections]) if sections else None


def failures_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """Every row whose status is not ok, one line per (status, device, dtype, reason), errors first;
    None when every row is ok."""
    bad = df[df["status"] != "ok"]
    if bad.empty:
        return None
    every_model = list(pd.unique(df["model"]))
    groups: dict[tuple[str, ...], tuple[list[str], ...]] = {}
    for row in bad.to_dict("records"):
        key = (*(str(row[c]) for c in ("status", "device", "dtype")), tables.error_text(row["error"]))
        models, metrics, sizes, seeds = groups.setdefault(key, ([], [], [], []))
        size = "n/a" if pd.isna(row["batch_size"]) else str(int(row["batch_size"]))
        for found, value in ((models, str(row["model"])), (metrics, str(row["metric"])), (sizes, size),
                             (seeds, str(row["seed"]))):
            if value not in found:
                found.append(value)
    rows = [[status, "all models" if models == every_model else ", ".join(models), ", ".join(metrics), device,
             dtype, ", ".join(sizes), ", ".join(seeds), error or MISSING]
            for (status, device, dtype, error), (models, metrics, sizes, seeds)
            in sorted(groups.items(), key=lambda item: item[0][0] != "error")]
    columns = ["status", "models", "metrics", "device", "dtype", "batch sizes", "seeds", "reason"]
    return pd.DataFrame(rows, columns=columns)


def _failures(df: pd.DataFrame) -> str | None:
    table = failures_table(df)
    return None if table is None else "\n".join(["## Failures and skips", "", markdown_table(table)])


def _architectures(manifest: dict[str, Any]) -> dict[str, str]:
    """Student name -> its architecture (arch and params) from the manifest's resolved suite."""
    suite = _section(manifest, "suite")
    found = {}
    for student in suite.get("students") or []:
        if isinstance(student, dict) and student.get("name") and student.get("arch"):
            params = json.dumps(student.get("params") or {}, sort_keys=True, default=str)
            found[str(student["name"])] = f"{student['arch']} {params}"
    return found


def compare_accuracy(name: str, ours: tables.Estimate, other_name: str, other: tables.Estimate) -> tuple[str, str]:
    """The :func:`~harness.report.tables.verdict` of ``ours`` against ``other`` and the sentence saying it."""
    if math.isnan(ours.value) or math.isnan(other.value):
        reason = ours.note if math.isnan(ours.value) else other.note
        return "unknown", f"{name} vs {other_name}: accuracy missing ({reason}), no comparison."
    head = f"{name} vs {other_name}: {100 * ours.value:.1f}% vs {100 * other.value:.1f}%"
    diff = f"{100 * (ours.value - other.value):+.1f} pp"
    found = tables.verdict(ours, other)
    tail = {"unknown": f"no intervals to judge by ({diff} on the point estimates)",
            "better": f"intervals disjoint: clearly better ({diff})",
            "worse": f"intervals disjoint: clearly worse ({diff})",
            "same": "intervals overlap: no measurable difference"}[found]
    return found, f"{head}, {tail}."


def _speed_pairs(students: list[str], teachers: list[str], method: dict[str, str],
                 arch: dict[str, str]) -> list[tuple[str, str]]:
    """(student, teacher of the same backend and sequence length where there is one) for every student, then
    (student, scratch twin of its architecture)."""
    def variant(label: str) -> str:
        return label.removeprefix(base_model(label))

    pairs = []
    for student in students if teachers else []:
        pairs.append((student, next((t for t in teachers if variant(t) == variant(student)), teachers[0])))
    for student in students:
        if method[student] != "scratch" and student in arch:
            pairs += [(student, s) for s in students if method[s] == "scratch" and arch.get(s) == arch[student]]
    return pairs


def _closing(floor: noise.NoiseFloor) -> str:
    if floor.pct is None:
        return ("A difference is called clear only when the two 95% intervals do not overlap; this run has no A/A "
                "noise floor, so speed differences are judged by their intervals alone.")
    return ("A difference is called clear only when the two 95% intervals do not overlap; a speed difference "
            f"also has to exceed the run's A/A noise floor ({noise.format_pct(floor.pct)}).")


def _findings(df: pd.DataFrame, manifest: dict[str, Any]) -> str:
    """One paragraph: each student against the teacher and against scratch students of its architecture, on
    accuracy and then on speed (per device and batch size, the noise floor respected)."""
    order = tables.model_order(df)
    first = df.drop_duplicates("model").set_index("model")
    method = {m: str(first.loc[m, "method"]) for m in order}
    label = {m: f"{m} ({method[m]})" for m in order}
    teachers = [str(m) for m in pd.unique(df.loc[df["role"] == "teacher", "model"])]
    students = [m for m in order if m not in teachers]
    arch, accuracy = _architectures(manifest), tables.accuracies(df)
    sentences, tally = [], {"better": 0, "same": 0, "worse": 0, "unknown": 0}
    for student in students:
        ours = accuracy[student]
        if teachers:
            sentences.append(compare_accuracy(label[student], ours, label[teachers[0]], accuracy[teachers[0]])[1])
        if method[student] == "scratch" or student not in arch:
            continue
        for other in (s for s in students if method[s] == "scratch" and arch.get(s) == arch[student]):
            found, sentence = compare_accuracy(label[student], ours, label[other], accuracy[other])
            sentences.append(sentence)
            tally[found] += 1
    if not students:
        sentences.append("The run holds no students to compare.")
    if sum(tally.values()):
        sentences.append(f"Against scratch students of the same architecture, {tally['better']} of "
                         f"{sum(tally.values())} comparisons came out clearly better, {tally['same']} showed no "
                         f"measurable difference and {tally['worse']} came out clearly worse"
                         + (f" ({tally['unknown']} could not be judged)." if tally["unknown"] else "."))
    elif not arch and any(method[s] == "scratch" for s in students):
        sentences.append("The manifest names no student architectures, so no student was compared with the "
                         "scratch students.")
    floor = noise.noise_floor(manifest)
    sentences += speed_findings(df, _speed_pairs(students, teachers, method, arch), label, floor.pct)
    sentences.append(_closing(floor))
    return "\n".join(["## Findings", "", " ".join(sentences)])


def _teacher_outputs(manifest: dict[str, Any]) -> str | None:
    """One sentence on the teacher outputs shared by the distilling builds, when there were any."""
    shared = manifest.get("teacher_outputs") or {}
    users = shared.get("builds_using_them", 0)
    if users < 2:  # computed for one build at most: nothing was reused
        return None
    return (f"The teacher's outputs on the training set were computed once ({shared['seconds']:.2f} s) and "
            f"reused by {users} build{'s' if users != 1 else ''}: {shared['saved_seconds']:.2f} s of build time "
            "saved against computing them per build.")


def _pipelines(manifest: dict[str, Any]) -> str | None:
    """Each pipeline's steps and what each cost to build, averaged over seeds."""
    steps = manifest.get("build_steps") or {}
    if not steps:
        return None
    lines = ["## Pipelines", "",
             "Build time of each step, mean over seeds (the models table's train time is their sum):", ""]
    for model, by_seed in steps.items():
        runs = list(by_seed.values())
        parts = []
        for index, step in enumerate(runs[0]):
            seconds = [run[index]["seconds"] for run in runs if index < len(run)]
            parts.append(f"{step['step']} {format_value(sum(seconds) / len(seconds), 's')} s")
        lines.append(f"- {model}: " + " → ".join(parts))
    return "\n".join(lines)


def title(df: pd.DataFrame, manifest: dict[str, Any]) -> tuple[str, str]:
    """The report's heading ("quick: run 2024-...") and the sentence of run facts under it ('' when none)."""
    head, _, facts = _title(df, manifest).partition("\n\n")
    return head.removeprefix("# "), facts


def machine_lines(manifest: dict[str, Any]) -> list[str]:
    """The machine section's lines ("CPU: ...", "Cores: ..."), without their bullets."""
    return [line.removeprefix("- ") for line in _machine(manifest).splitlines()[2:]]


def missing_notes(table: pd.DataFrame) -> list[str]:
    """The notes under a table: one line per (metric, reason) naming its models, without bullets."""
    return [note.removeprefix("- ") for note in _missing_notes(table)]


def findings(df: pd.DataFrame, manifest: dict[str, Any]) -> str:
    """The findings paragraph (without its heading)."""
    return _findings(df, manifest).split("\n\n", 1)[1]


def notes(manifest: dict[str, Any]) -> list[str]:
    """The manifest's build notes as Markdown blocks: shared teacher outputs, pipeline steps."""
    return [s for s in (_teacher_outputs(manifest), _pipelines(manifest)) if s]


def figure_lines(figures: dict[str, Path], skipped: dict[str, str]) -> str | None:
    """The Figures section: ``![title](name.png)`` per figure written, one line per figure left out and why."""
    if not figures and not skipped:
        return None
    from harness.report.plots import title as figure_title  # matplotlib only when there are figures

    lines = ["## Figures", ""]
    for name, path in figures.items():
        lines += [f"![{figure_title(name)}]({Path(path).name})", ""]
    if skipped:
        lines += ["Left out:", ""] + [f"- {figure_title(name)}: {reason}." for name, reason in skipped.items()]
    return "\n".join(lines).rstrip()


EMBEDDING_METRICS = ("cosine_to_teacher", "neighbor_recall")


EMBEDDING_INTRO = ("Mean cosine similarity of each held-out input's embedding to the teacher's, and recall@k of "
                   "the teacher's k nearest held-out neighbours (1.0: the model retrieves what the teacher retrieves).")


def embedding_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """Embedding models' fidelity to the teacher (cosine, neighbour recall) per model; None without such rows."""
    present = df[df["metric"].isin(EMBEDDING_METRICS) & (df["status"] == "ok")]
    if present.empty:
        return None
    grouped = tables._by_model(df)
    rows = []
    for model in tables.model_order(df):
        row: dict[str, str] = {"model": model, "method": str(grouped[model][0]["method"])}
        for name in EMBEDDING_METRICS:
            est = tables._estimate(grouped[model], name, None, None, None)
            row[header(name.replace("_", " "), metric(name).unit)] = format_value(est.value, metric(name).unit)
            row[f"{name.replace('_', ' ')} 95% CI"] = format_interval(est.low, est.high, metric(name).unit)
        rows.append(row)
    return pd.DataFrame(rows)


def _embedding_quality(df: pd.DataFrame) -> str | None:
    table = embedding_table(df)
    return None if table is None else "\n\n".join(["## Embedding quality", EMBEDDING_INTRO, markdown_table(table)])


def render_markdown(df: pd.DataFrame, manifest: dict[str, Any], figures: dict[str, Path] | None = None,
                    skipped: dict[str, str] | None = None) -> str:
    """The whole report of one run as Markdown: ``df`` is its results table, ``manifest`` its manifest.json;
    ``figures`` (name -> PNG beside the report) and ``skipped`` (name -> reason) make its Figures section."""
    tables.check_columns(df)
    if df.empty:
        raise HarnessError("the results table is empty: nothing to report")
    model_level = one_per_model(df)  # model-level metrics: one row per model, not one per backend or seq_len
    models = tables.model_table(model_level)
    sections = [_title(df, manifest), _machine(manifest), _with_notes("## Models", models, display_models(models)),
                _embedding_quality(model_level), _teacher_outputs(manifest), _pipelines(manifest), _results(df),
                _failures(df), _findings(df, manifest), figure_lines(figures or {}, skipped or {})]
    return "\n\n".join(s for s in sections if s) + "\n"


def write_markdown_report(df: pd.DataFrame, manifest: dict[str, Any], out_dir: Path,
                          figures: dict[str, Path] | None = None, skipped: dict[str, str] | None = None) -> Path:
    """Write ``out_dir/report.md`` (creating ``out_dir``) and return its path; see :func:`render_markdown`."""
    path = Path(out_dir) / "report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(df, manifest, figures, skipped), encoding="utf-8")
    return path
