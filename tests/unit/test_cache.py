"""The model cache: a hit restores the exact weights; a corrupt entry is reported and rebuilt."""

from pathlib import Path

import pytest
import torch

from harness.cache import ModelCache, cache_key, default_cache_dir


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_key_depends_on_every_part_and_not_on_order():
    base = cache_key(arch="mlp", params={"hidden": [4]}, seed=0)
    assert base == cache_key(seed=0, params={"hidden": [4]}, arch="mlp")
    assert base != cache_key(arch="mlp", params={"hidden": [5]}, seed=0)
    assert base != cache_key(arch="mlp", params={"hidden": [4]}, seed=1)


def test_round_trip_restores_exact_weights(tmp_path: Path):
    cache = ModelCache(tmp_path)
    trained = _model(0)
    cache.save("ab" * 32, trained, {"train_seconds": 1.5})
    fresh = _model(1)
    meta = cache.load("ab" * 32, fresh)
    assert meta is not None and meta["train_seconds"] == 1.5 and len(meta["sha256"]) == 64
    for a, b in zip(trained.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_miss_returns_none(tmp_path: Path):
    assert ModelCache(tmp_path).load("cd" * 32, _model(0)) is None


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_entry_is_reported_and_dropped(tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]):
    cache = ModelCache(tmp_path)
    key = "ef" * 32
    cache.save(key, _model(0), {"train_seconds": 1.0})
    weights = next(tmp_path.rglob("model.safetensors"))
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 0xFF]))
    assert cache.load(key, _model(1)) is None
    assert "is corrupt" in capsys.readouterr().err
    assert not weights.exists(), "the bad entry is removed so that it is rebuilt"


def test_default_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("HARNESS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "harness"


def test_a_folders_digest_covers_its_files_names_and_contents(tmp_path: Path):
    from harness.cache import content_digest, file_digest

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "b.txt").write_text("b")
    first = content_digest(tmp_path / "d")
    assert content_digest(tmp_path / "d" / "a.txt") == file_digest(tmp_path / "d" / "a.txt")
    (tmp_path / "d" / "a.txt").write_text("a")  # the same content again: the same digest
    assert content_digest(tmp_path / "d") == first
    (tmp_path / "d" / "sub" / "b.txt").rename(tmp_path / "d" / "sub" / "c.txt")
    assert content_digest(tmp_path / "d") != first
