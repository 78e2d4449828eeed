"""Datasets: importing this package registers every built-in dataset in :data:`DATASETS`.

>>> from harness.data import DATASETS
>>> DATASETS.names()
['arrays', 'digits', 'hf_disk', 'mnist', 'mnist1d', 'npz', 'stdlib_sentences', 'synthetic', 'table', 'text_table']
"""

from harness.data import arrays, digits, hf_disk, mnist, mnist1d, npz, sentences, synthetic, table, text_table
from harness.data.base import DATASETS, Dataset

__all__ = ["DATASETS", "Dataset", "arrays", "digits", "hf_disk", "mnist", "mnist1d", "npz", "sentences", "synthetic",
           "table", "text_table"]
