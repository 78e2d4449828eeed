"""What a suite key or a component parameter means, where its declaration does not say.

:func:`harness.registry.describe_params` takes a field's description from
``Field(description=...)``, else from the ``#:`` comment above it in its
class, else from here, keyed ``"Class.field"`` (any class of the params
model's MRO; a dataset's or architecture's signature model is
``"<function>_params"``). A description written at the declaration wins, so an
entry here can be deleted once its field documents itself;
tests/unit/test_docs.py fails on an entry that names no field.
"""

from __future__ import annotations

NOTES: dict[str, str] = {
    # the suite (harness.suite)
    "Suite.name": "the suite's name: results go to results/<name>/, reports to reports/<name>/",
    "Suite.version": "your version of the suite, recorded with the results",
    "Suite.description": "free text, shown in reports",
    "Suite.dataset": "the data every model learns from and is tested on",
    "Suite.teacher": "the reference model: trained, loaded from a file, or pretrained",
    "Suite.students": "the compressed models, each made by a method (or a pipeline of methods)",
    "Suite.build": "how models are built (trained)",
    "Suite.measure": "what is measured, where, and how latency is timed",
    "Suite.seeds": "each student is built and measured once per seed; values must be unique",
    "DatasetSpec.name": "a registered dataset (harness list datasets) or module:attr",
    "DatasetSpec.seed": "seeds the train/test split (datasets with a fixed split ignore it)",
    "DatasetSpec.params": "the dataset's own parameters, written flat beside name (or under params)",
    "TeacherSpec.name": "the teacher's model name in the results",
    "TeacherSpec.arch": "a registered architecture (harness list architectures) or module:attr; leave out for "
                        "a program checkpoint",
    "TeacherSpec.params": "the architecture's own parameters",
    "TeacherSpec.train": "a training recipe: the parameters of method train (below); give exactly one of train, "
                         "checkpoint or pretrained: true",
    "TeacherSpec.checkpoint": "a file beside the suite: weights for arch (state dict, safetensors) or a "
                              "TorchScript / torch.export program given without arch",
    "TeacherSpec.seed": "seeds the teacher's initialisation and training",
    "StudentSpec.name": "the student's model name in the results; unique, and not the teacher's",
    "StudentSpec.arch": "a registered architecture or module:attr (not with init: teacher)",
    "StudentSpec.params": "the architecture's own parameters",
    "StudentSpec.init": "random: a fresh arch; teacher: a copy of the trained teacher (to prune or quantize it)",
    "StudentSpec.method": "one method, or a list run in order (a pipeline: [kd, prune, quantize]); default as_is "
                          "with a checkpoint",
    "MethodSpec.name": "a registered method (harness list methods) or module:attr",
    "MethodSpec.params": "the method's own parameters, written flat beside name (or under params)",
    "BuildSpec.threads": "intra-op threads while training",
    "MeasureSpec.devices": "cpu, cuda or cuda:N; a device the host lacks gives skipped rows with the reason",
    "MeasureSpec.batch_sizes": "batch sizes timed for every per-batch-size metric; values must be unique",
    "MeasureSpec.latency": "how each cell is timed, in paired rounds (docs/measurements.md)",
    "LatencySpec.warmup_iters": "untimed forwards at least, before a model's first window at a batch size",
    "LatencySpec.min_iters": "timed samples a model needs at least before it may stop",
    "LatencySpec.max_seconds": ("each model's timed budget per batch size: stop once its windows add up to this, "
                                "never before min_rounds"),
    "LatencySpec.target_ci": "stop once every model's median is this tight (relative 95% half-width)",
    "LatencySpec.rewarm_seconds": "the re-warm's minimum duration (see rewarm_iters)",
    "GateSpec.max_regression": "how much worse the candidate may be, in the metric's unit",
    "GateSpec.max_regression_pct": "how much worse the candidate may be, in percent of the baseline",
    "GateSpec.max_improvement": "how much better it may be (a suspicious improvement fails), in the metric's unit",
    "GateSpec.max_improvement_pct": "how much better it may be, in percent of the baseline",
    "GateSpec.batch_sizes": "per-batch-size metrics only: gate these measured batch sizes (default: all)",
    "GateSpec.alpha": "significance level: a change beyond a bound fails only if significant at alpha",
    "GateSpec.enabled": "false (or writing the gate as false / off) switches it off",
    "GatePolicy.noisy": "what a noisy latency cell beyond its bound does: fail, pass with a warning, or measure "
                        "again (pytest plugin)",
    "GatePolicy.reruns": "with noisy: rerun, how many times the pytest plugin measures again (default 2)",
    # training recipes (harness.train) and methods (harness.methods)
    "TrainParams.epochs": "passes over the training set",
    "TrainParams.lr": "learning rate (the peak of the cosine schedule)",
    "TrainParams.batch_size": "training batch size",
    "TrainParams.weight_decay": "weight decay of the optimizer",
    "TrainParams.optimizer": "adamw, or sgd with momentum",
    "TrainParams.momentum": "sgd's momentum (adamw ignores it)",
    "TrainParams.schedule": "cosine: the rate decays to 0 over all steps; constant: it stays at lr",
    "KDParams.temperature": "T: softens both distributions; the soft term is scaled by T^2",
    "KDParams.alpha": "weight of the soft (teacher) term; 1 - alpha weighs cross-entropy on the labels",
    "RecoveryParams.epochs": "recovery fine-tuning epochs after pruning (0: none)",
    "RecoveryParams.distill": "fine-tune on the KD loss against the teacher instead of the labels alone",
    "RecoveryParams.temperature": "KD temperature of the fine-tuning (with distill: true)",
    "RecoveryParams.alpha": "KD weight of the fine-tuning (with distill: true)",
    "PruneParams.sparsity": "share of the selected weights set to zero (smallest magnitude first)",
    "PruneParams.scope": "global: rank all selected weights together; layer: prune each layer to sparsity",
    "PruneParams.layers": "whose weights are pruned: Linear, Conv or both (biases never)",
    "ChannelPruneParams.ratio": "share of each hidden layer's units or channels removed (lowest L1 norm first; "
                                "at least one kept)",
    "QuantizeParams.mode": "dynamic: Linear weights int8, activations quantized on the fly; static: weights and "
                           "activations int8, calibrated",
    "QuantizeParams.per_channel": "one scale per output channel (false: one per tensor)",
    "QuantizeParams.calibration_batches": "static mode: batches of 64 training samples run through the observers",
    "PrecisionParams.dtype": "the half-precision type every floating parameter and buffer is cast to",
    "FitNetsParams.student_layer": "the student's module (as named_modules names it) regressed onto the hint",
    "FitNetsParams.teacher_layer": "the teacher's module whose output is the hint",
    "FitNetsParams.beta": "weight of the hint term (mean squared error per element)",
    "FitNetsParams.alpha": "weight of the KD term (0: none, and the teacher's logits are never computed)",
    "FitNetsParams.temperature": "KD temperature (with alpha > 0)",
    "AttentionParams.student_layers": "the student's modules whose attention maps are matched, paired in order",
    "AttentionParams.teacher_layers": "the teacher's modules, one per student layer",
    "AttentionParams.beta": "weight of the attention term (the paper's 1000; lower it for short maps)",
    "AttentionParams.p": "exponent of the attention map, mean over channels of |f_c|^p",
    "AttentionParams.alpha": "weight of the KD term (0: attention transfer alone)",
    "AttentionParams.temperature": "KD temperature (with alpha > 0)",
    "AdversarialParams.adv_weight": "weight of the generator loss added to the KD loss",
    "AdversarialParams.d_hidden": "hidden width of the discriminator",
    "AdversarialParams.d_lr": "the discriminator's Adam learning rate",
    "AdversarialParams.d_beta1": "the discriminator's Adam beta1",
    "AdversarialParams.d_beta2": "the discriminator's Adam beta2",
    "MultiTeacherParams.teachers": "models already built in this seed to learn from (the teacher by its name, "
                                   "earlier students); default: the suite's teacher alone",
    "MultiTeacherParams.weights": "one non-negative weight per teacher, normalised to sum to 1; default: equal",
    "EmbedDistillParams.loss": "cosine: 1 - cos(student, teacher) per input; mse: mean squared error",
    # architectures (harness.models)
    "mlp_params.hidden": "widths of the hidden layers ([] is logistic regression)",
    "mlp_params.dropout": "dropout after each hidden ReLU (0: none)",
    "cnn1d_params.channels": "output channels of each Conv -> BatchNorm -> ReLU stage",
    "cnn1d_params.kernel_size": "kernel size of every convolution (padded by kernel_size // 2)",
    "cnn1d_params.stride": "stride of every convolution",
    "cnn1d_params.batch_norm": "BatchNorm after each convolution",
    "cnn1d_params.head": "flatten: keeps position; avgpool: global average (translation invariant)",
    "cnn1d_params.dropout": "dropout before the linear head (0: none)",
    "cnn2d_params.channels": "output channels of each Conv -> BatchNorm -> ReLU stage",
    "cnn2d_params.kernel_size": "kernel size of every convolution (padded by kernel_size // 2)",
    "cnn2d_params.stride": "stride of every convolution",
    "cnn2d_params.batch_norm": "BatchNorm after each convolution",
    "cnn2d_params.head": "flatten: keeps position; avgpool: global average (translation invariant)",
    "cnn2d_params.dropout": "dropout before the linear head (0: none)",
    "resnet_params.width": "channels of the first stage; each later stage doubles them",
    "resnet_params.blocks": "basic blocks per stage, one entry per stage",
    "minilm_params.layers": "keep the first N of all-MiniLM-L6-v2's 6 transformer layers",
    # datasets (harness.data)
    "digits_params.test_fraction": "share of the examples held out for testing (stratified)",
    "mnist_params.test_fraction": "share of the examples held out for testing (stratified)",
    "mnist1d_params.num_samples": "examples generated",
    "mnist1d_params.train_split": "share of them for training (the package's own fixed split)",
    "mnist1d_params.generator_seed": "seed of the generator: another value draws another dataset (42: the "
                                     "published benchmark's)",
    "stdlib_sentences_params.count": "sentences drawn from the standard library's docstrings",
    "stdlib_sentences_params.test_fraction": "share of them held out for testing",
    "stdlib_sentences_params.seq_len": "token ids per sentence ([CLS] ... [SEP], padded with 0 or truncated)",
    "synthetic_params.num_samples": "examples drawn",
    "synthetic_params.num_features": "dimensions of each example",
    "synthetic_params.num_classes": "Gaussian blobs, one per class",
    "synthetic_params.test_fraction": "share of the examples held out for testing",
}
