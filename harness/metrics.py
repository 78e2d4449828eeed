"""Metric declarations: name, unit, direction. Reports and gates read these.

A metric is added by registering a :class:`Metric`; nothing else special-cases
metric names.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.registry import Registry


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool
    per_batch_size: bool
    description: str
    #: its value depends on the machine (timing, memory, energy): gates compare it across machines only when asked
    machine_dependent: bool = False
    #: a statistic of the cell's raw latency samples: gates test the samples (larger samples are worse)
    from_latency_samples: bool = False
    #: a timing relative to the teacher's in the same paired rounds: the teacher's own value is 1 by construction
    relative_to_teacher: bool = False
    #: measured on cuda devices only: elsewhere its rows are skipped, and reports say it does not apply there
    needs_cuda: bool = False
    #: the cost of a backend's compiler: eager PyTorch compiles nothing, so its rows are skipped there
    needs_compiler: bool = False
    #: a quality metric of one task (classification | embedding): skipped for a dataset of the other task
    task: str | None = None
    #: a student against its baseline on the same test examples, computed once every model of the run is
    #: measured (harness.against_baseline); the teacher, every baseline's reference, has none
    vs_baseline: bool = False
    #: the scenarios (measure.scenarios) whose cells have rows of it; per-batch-size metrics only
    scenarios: tuple[str, ...] = ()

    @property
    def timing(self) -> bool:
        """A speed measured by timing: a difference under the run's A/A noise floor cannot be told apart."""
        return self.from_latency_samples or self.relative_to_teacher


METRICS: Registry[Metric] = Registry("metric")


def _declare(name: str, unit: str, higher_is_better: bool, description: str, per_batch_size: bool = False, *,
             machine_dependent: bool | None = None, from_latency_samples: bool = False,
             relative_to_teacher: bool = False, needs_cuda: bool = False, needs_compiler: bool = False,
             task: str | None = None, vs_baseline: bool = False,
             scenarios: tuple[str, ...] | None = None) -> None:
    """Per-batch-size metrics are measured on a device, so they depend on the machine unless declared otherwise;
    they belong to the closed-loop sweep (single_stream) unless they name their scenarios."""
    dependent = per_batch_size if machine_dependent is None else machine_dependent
    own = (scenarios or ("single_stream",)) if per_batch_size else ()
    METRICS.add(name, Metric(name, unit, higher_is_better, per_batch_size, description, dependent,
                             from_latency_samples, relative_to_teacher, needs_cuda, needs_compiler, task,
                             vs_baseline, own))


_declare("accuracy", "fraction", True, "top-1 accuracy on the test split, bootstrap 95% interval",
         task="classification")
_declare("teacher_agreement", "fraction", True, "share of test inputs where the top-1 class equals the teacher's",
         task="classification")
_declare("kl_to_teacher", "nats", False, "mean KL(teacher || model) of the softmax outputs on the test split",
         task="classification")
_declare("ece", "fraction", False, "expected calibration error of the top-class probability, 15 equal-width bins, "
         "bootstrap 95% interval", task="classification")
_declare("accuracy_under_noise", "fraction", True,
         "top-1 accuracy with Gaussian noise of std noise_sigma (a column) added to the test inputs "
         "(measure.noise_sigmas), bootstrap 95% interval", task="classification")
_declare("accuracy_gain_vs_baseline", "fraction", True,
         "accuracy minus the baseline's on the same test examples (the same seed), paired bootstrap 95% interval "
         "over examples", task="classification", vs_baseline=True)
_declare("mcnemar_p_vs_baseline", "p", False,
         "exact McNemar test against the baseline on the same test examples (the same seed): two-sided p-value",
         task="classification", vs_baseline=True)
_declare("params", "count", False, "number of parameters")
_declare("params_nonzero", "count", False, "number of parameters that are not exactly zero")
_declare("size_bytes", "bytes", False, "bytes of the serialized state dict (torch.save)")
_declare("size_bytes_sparse", "bytes", False,
         "serialized state dict with every tensor that is at least half zeros stored sparse (CSR)")
_declare("flops", "flop", False, "floating-point operations of one forward pass on one sample")
BOTH = ("single_stream", "server")
SERVER = ("server",)
_declare("latency_p50_ms", "ms", False,
         "single_stream: median forward latency of one batch: the median of the paired rounds' window medians; "
         "interval: order statistics of the rounds' medians (exact binomial ranks, at least 95%). server: median "
         "response time of a query "
         "(completion minus scheduled arrival) at target_qps", True, from_latency_samples=True, scenarios=BOTH)
_declare("latency_p90_ms", "ms", False, "90th percentile forward latency of one batch (server: response time of a "
         "query at target_qps)", True, from_latency_samples=True, scenarios=BOTH)
_declare("latency_p95_ms", "ms", False, "95th percentile forward latency of one batch", True, from_latency_samples=True)
_declare("latency_p99_ms", "ms", False, "99th percentile forward latency of one batch (server: response time of a "
         "query at target_qps, an order statistic; a dropped query counts as infinitely late)", True,
         from_latency_samples=True, scenarios=BOTH)
_declare("latency_mean_ms", "ms", False, "mean forward latency of one batch (server: mean response time of the "
         "queries served at target_qps)", True, from_latency_samples=True, scenarios=BOTH)
_declare("throughput_sps", "samples/s", True, "samples per second: batch size over mean latency (offline: the test "
         "split's size over the time to serve it all, median of 5 rounds)", True, from_latency_samples=True,
         scenarios=("single_stream", "offline"))
_declare("offline_seconds", "s", False, "offline: time to serve every test input, queued at once, in batches of "
         "max_batch (median of 5 paired rounds)", True, scenarios=("offline",))
_declare("achieved_qps", "queries/s", True, "server: queries served over the time from the run's start to its last "
         "completion, at target_qps", True, scenarios=SERVER)
_declare("mean_batch_size", "queries", True, "server: mean size of the batches the dynamic batcher ran", True,
         scenarios=SERVER)
_declare("late_share", "fraction", False, "server: share of the queries whose response time exceeded slo_p99_ms "
         "(dropped ones included)", True, scenarios=SERVER)
_declare("dropped_share", "fraction", False, "server: share of the queries not served before the run gave up", True,
         scenarios=SERVER)
_declare("max_qps_at_slo", "queries/s", True, "server: the highest Poisson rate whose p99 response time stayed within "
         "slo_p99_ms (ladder, bisection, confirmed by a repeat); interval: the bracket [highest pass, lowest miss]",
         True, scenarios=SERVER)
_declare("capacity_vs_teacher", "x", True, "server: max_qps_at_slo over the teacher's; interval: the ratios of the "
         "brackets' ends", True, scenarios=SERVER, relative_to_teacher=True)
_declare("speedup_vs_teacher", "x", True,
         "teacher p50 over this model's p50 from the same paired rounds: the median over rounds of each round's "
         "ratio of window medians (1 for the teacher); interval: order statistics of the rounds' ratios (exact "
         "binomial ranks, at least 95%)",
         True, relative_to_teacher=True)
_declare("latency_iqr_over_median", "fraction", False,
         "spread of the raw samples: interquartile range over median (jitter within a window included); the noise "
         "flag of runs written before latency_round_spread", True)
_declare("latency_round_spread", "fraction", False,
         "spread of the rounds: interquartile range of the paired rounds' window medians over their median; above "
         "0.10 the cell is flagged noisy", True)
_declare("peak_memory_bytes", "bytes", False, "weights + input + peak live intermediate tensors in one forward", True)
_declare("rss_peak_bytes", "bytes", False, "peak resident memory of the measuring process during one forward (cpu)",
         True)
_declare("rss_weights_bytes", "bytes", False, "resident memory the weights added to the measuring process (cpu)", True)
_declare("rss_activations_bytes", "bytes", False, "resident memory one forward added above the weights (cpu)", True)
_declare("cuda_peak_allocated_bytes", "bytes", False, "torch.cuda.max_memory_allocated during one forward (cuda)",
         True, needs_cuda=True)
_declare("gpu_process_memory_bytes", "bytes", False, "GPU memory NVML reports for the measuring process (cuda)", True,
         needs_cuda=True)
_declare("gpu_util_pct", "%", False, "mean NVML utilisation while timing: share of time a kernel ran", True,
         needs_cuda=True)
_declare("gpu_power_w", "W", False, "mean GPU board power while timing (NVML)", True, needs_cuda=True)
_declare("energy_j_per_sample", "J", False,
         "GPU energy while timing over samples processed (energy counter, else power integrated)", True,
         needs_cuda=True)
_declare("train_seconds", "s", False, "wall time the method took to build the model", machine_dependent=True)
_declare("compile_seconds", "s", False,
         "preparing the backend (trace, export, ONNX export and session; charged to the first batch size) plus the "
         "first forward at this batch size, where torch.compile compiles; skipped for eager", True, needs_compiler=True)
_declare("cosine_to_teacher", "cosine", True,
         "embedding models: mean cosine similarity to the teacher's embedding of each test input, bootstrap 95%",
         task="embedding")
_declare("neighbor_recall", "fraction", True,
         "embedding models: recall@k of the teacher's k nearest test neighbours (k: measure.neighbors), bootstrap 95%",
         task="embedding")


def metric(name: str) -> Metric:
    return METRICS.get(name)
