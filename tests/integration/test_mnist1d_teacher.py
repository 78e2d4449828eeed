"""The teacher of suites/mnist1d.yaml reaches at least 90% test accuracy (the paper's CNN: about 94%)."""

from harness.build import Builder
from harness.measure.quality import accuracy
from harness.measure.threads import torch_threads
from harness.preflight import load_dataset
from harness.suite import load_suite
from harness.train import predict_logits
from tests.conftest import ROOT


def test_mnist1d_teacher_reaches_90_percent():
    suite = load_suite(ROOT / "suites" / "mnist1d.yaml")
    data = load_dataset(suite)
    assert (len(data.x_train), len(data.x_test), data.input_shape) == (4000, 1000, (1, 40))
    with torch_threads(suite.build.threads):
        teacher = Builder(suite, data, cache=None, log=lambda _: None).teacher()
    result = accuracy(predict_logits(teacher.module, data.x_test), data.y_test)
    assert result.value >= 0.90, result
