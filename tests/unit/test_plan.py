"""Planning: the device matrix, dtype plans, and shards that partition a suite's models exactly."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.plan import Cell, Shard, cells, dtype_plan, jobs
from harness.suite import MeasureSpec


def _resolved(students: int, seeds: list[int]) -> dict:
    return {"teacher": {"name": "teacher", "seed": 7}, "seeds": seeds,
            "students": [{"name": f"s{i}"} for i in range(students)]}


def test_jobs_are_the_teacher_then_students_per_seed():
    assert jobs(_resolved(2, [0, 1])) == [("teacher", 7), ("s0", 0), ("s1", 0), ("s0", 1), ("s1", 1)]


def test_cells_are_every_device_threads_dtype_combination():
    spec = MeasureSpec(devices=["cpu", "cuda:1"], threads=[1, 2], dtypes=["float32", "bfloat16"])
    found = cells(spec)
    assert len(found) == 8 and len(set(found)) == 8
    assert found[0] == Cell("cpu", 1, "float32") and found[-1] == Cell("cuda:1", 2, "bfloat16")
    assert cells(MeasureSpec()) == [Cell("cpu", None, "float32")]
    assert cells(MeasureSpec(threads=3)) == [Cell("cpu", 3, "float32")]


def test_dtype_plan_casts_float32_and_measures_fixed_dtypes_once():
    assert dtype_plan("float32", ["float32"]) == {"float32": "float32"}
    assert dtype_plan("float16", ["float32", "float16"]) == {"float32": None, "float16": "float16"}
    assert dtype_plan("int8", ["bfloat16", "float32"]) == {"bfloat16": "int8", "float32": None}


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2"])
def test_bad_shards_are_one_line_errors(text: str):
    with pytest.raises(HarnessError, match=r"--shard .*1 to N"):
        Shard.parse(text)


def test_shard_parse_and_str():
    assert Shard.parse(" 2/5 ") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"


@given(students=st.integers(0, 12), seeds=st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True),
       count=st.integers(1, 9))
def test_shards_partition_the_jobs_exactly_and_stably(students: int, seeds: list[int], count: int):
    every = jobs(_resolved(students, seeds))
    shares = [Shard(i, count).select(every) for i in range(1, count + 1)]
    assert sorted(job for share in shares for job in share) == sorted(every)  # each job in exactly one shard
    assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced to within one job
    assert shares == [Shard(i, count).select(jobs(_resolved(students, seeds))) for i in range(1, count + 1)]


def test_thread_list_and_dtypes_validate():
    assert MeasureSpec(threads=[1, 2]).thread_counts == [1, 2]
    assert MeasureSpec().thread_counts == [None]
    for bad in ({"threads": []}, {"threads": [1, 1]}, {"threads": [0]}, {"dtypes": ["float64"]},
                {"dtypes": ["float32", "float32"]}):
        with pytest.raises(ValueError):
            MeasureSpec(**bad)
