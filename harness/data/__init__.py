"""Datasets: importing this package registers every built-in dataset in :data:`DATASETS`.

>>> from harness.data import DATASETS
>>> DATASETS.names()
['digits', 'mnist', 'mnist1d', 'npz', 'stdlib_sentences', 'synthetic']
"""

from harness.data import digits, mnist, mnist1d, npz, sentences, synthetic
from harness.data.base import DATASETS, Dataset

__all__ = ["DATASETS", "Dataset", "digits", "mnist", "mnist1d", "npz", "sentences", "synthetic"]
