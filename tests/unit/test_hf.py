"""``arch: hf``: a Hugging Face encoder from a local folder (a tiny BERT written here), never downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="needs the text extra: pip install 'harness[text]'")

from harness.errors import HarnessError  # noqa: E402
from harness.models import ARCHITECTURES  # noqa: E402
from harness.models.hf import TextEncoder, load_encoder, locate  # noqa: E402
from tests.tiny_text import VOCAB, save_bert  # noqa: E402

IDS = torch.tensor([[2, 10, 11, 12, 3, 0, 0, 0], [2, 20, 3, 0, 0, 0, 0, 0]])


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_bert(tmp_path_factory.mktemp("hf") / "bert")


def _hf(bert: Path, num_classes: int = 3, **params: object) -> TextEncoder:
    return ARCHITECTURES.get("hf")((8,), num_classes, model=str(bert), **params)


def test_classification_is_a_linear_head_on_the_mean_of_the_non_padding_tokens(bert: Path):
    torch.manual_seed(0)
    model = _hf(bert)
    assert model.head is not None and (model.head.in_features, model.head.out_features) == (32, 3)
    assert model.encoder.config.vocab_size == len(VOCAB) and not model.training
    with torch.inference_mode():
        logits = model(IDS)
        hidden = model.encoder(input_ids=IDS[:1, :5]).last_hidden_state
    assert logits.shape == (2, 3)
    # padding is masked out and left out of the mean: the first row is the mean over its 5 real tokens
    torch.testing.assert_close(logits[:1], model.head(hidden.mean(1)))


def test_embedding_is_the_pooled_vector_l2_normalised_and_ignores_the_classes(bert: Path):
    model = _hf(bert, num_classes=0, task="embedding")
    assert model.head is None
    with torch.inference_mode():
        vectors = model(IDS)
    assert vectors.shape == (2, 32)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(2))


def test_layers_keeps_the_first_layers_with_their_weights(bert: Path):
    full, short = _hf(bert), _hf(bert, layers=1)
    assert len(full.encoder.encoder.layer) == 2 and len(short.encoder.encoder.layer) == 1
    assert short.encoder.config.num_hidden_layers == 1
    for ours, theirs in zip(short.encoder.encoder.layer[0].parameters(), full.encoder.encoder.layer[0].parameters(),
                            strict=True):
        assert torch.equal(ours, theirs)
    per_layer = sum(p.numel() for p in full.encoder.encoder.layer[1].parameters())
    assert sum(p.numel() for p in short.parameters()) == sum(p.numel() for p in full.parameters()) - per_layer
    assert full.encoder.pooler is None  # BERT's pooler is unused: dropped, not counted
    with pytest.raises(HarnessError) as info:
        _hf(bert, layers=3)
    assert str(info.value) == f"hf: layers=3, but {bert} has 2 (allowed: 1..2)"


def test_a_folder_without_config_json_is_one_line_naming_it(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError) as info:
        load_encoder(str(tmp_path / "empty"))
    assert str(info.value) == (f"hf: {tmp_path / 'empty'} has no config.json: not a model folder "
                               f"(save_pretrained writes one)")
    with pytest.raises(HarnessError, match="^hf: model folder not found: ./no/such$"):
        locate("./no/such")


def test_a_hub_id_not_in_the_local_cache_is_one_line_naming_it_and_hf_hub_offline(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError) as info:
        load_encoder("harness-tests/no-such-model")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("hf: model 'harness-tests/no-such-model' is neither a folder nor in the local "
                              "Hugging Face cache (HF_HUB_OFFLINE=1;")


def test_a_token_id_beyond_the_vocabulary_is_one_line_naming_the_model_and_its_size(tmp_path: Path):
    small = save_bert(tmp_path / "small", vocab_size=20, tokenizer=False)
    model = _hf(small)
    with pytest.raises(HarnessError) as info:
        model(IDS)
    assert str(info.value) == (f"hf: token id 20 is beyond the vocabulary of {small} (vocab_size 20): "
                               f"the dataset's tokenizer is not the model's")


def test_inputs_it_cannot_take_are_refused_when_built(bert: Path):
    with pytest.raises(HarnessError, match=r"takes token ids of shape \(seq_len,\), the dataset gives \(1, 8\)"):
        ARCHITECTURES.get("hf")((1, 8), 3, model=str(bert))
    with pytest.raises(HarnessError, match="task classification needs a dataset with classes"):
        ARCHITECTURES.get("hf")((8,), 0, model=str(bert))
    with pytest.raises(HarnessError, match=r"seq_len 65 is longer .* \(max_position_embeddings 64\)"):
        ARCHITECTURES.get("hf")((65,), 3, model=str(bert))


def test_a_model_folder_s_content_is_part_of_the_cache_key(tmp_path: Path):
    """Changed weights in the folder give another key (the model rebuilds); the same bytes the same key; a hub
    id keys by its name, and other architectures' parameters are keyed as they always were."""
    from harness.build import arch_key

    folder = save_bert(tmp_path / "bert")
    params = {"model": str(folder), "layers": 1}
    first = arch_key("hf", params)
    assert set(first) == {"model", "layers", "folders"} and len(first["folders"]["model"]) == 64
    assert arch_key("hf", params) == first
    save_bert(folder, seed=1)  # other weights, same names
    assert arch_key("hf", params)["folders"] != first["folders"]
    assert arch_key("hf", {"model": "bert-base-uncased"}) == {"model": "bert-base-uncased"}
    assert arch_key("mlp", {"hidden": [16]}) == {"hidden": [16]}


def test_harness_validate_refuses_a_model_folder_without_config_json(tmp_path: Path):
    """One line at validate time, naming the field and the folder (from the suite's folder)."""
    from harness.errors import SuiteError
    from harness.suite import load_suite

    (tmp_path / "empty").mkdir()
    (tmp_path / "suite.yaml").write_text(
        "name: s\ndataset: {name: synthetic, num_samples: 60, seed: 0}\n"
        "teacher: {arch: mlp, params: {hidden: [8]}, train: {epochs: 1}}\n"
        "students:\n  - {name: h, arch: hf, params: {model: empty}, method: {name: scratch, epochs: 1}}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path / "suite.yaml")
    assert str(info.value) == (f"{tmp_path / 'suite.yaml'}:5: students[0].params.model: {tmp_path / 'empty'} has "
                               "no config.json: not a model folder (save_pretrained writes one)")


def _text_suite(folder: Path, model: str, tokenizer: str, **student: str) -> Path:
    """A text_table suite beside its data: an hf teacher of ``model`` on texts that ``tokenizer`` tokenizes."""
    from tests.tiny_text import sentences

    sentences(rows=30).to_csv(folder / "texts.csv", index=False)
    extra = "".join(f", {key}: {value}" for key, value in student.items())
    (folder / "suite.yaml").write_text(
        f"name: s\ndataset: {{name: text_table, path: texts.csv, text: sentence, target: topic, "
        f"tokenizer: {tokenizer}, seq_len: 12}}\n"
        f"teacher: {{arch: hf, params: {{model: {model}}}, pretrained: true}}\n"
        f"students:\n  - {{name: h, init: teacher, method: {{name: scratch, epochs: 1}}{extra}}}\n")
    return folder / "suite.yaml"


def _validate(suite: Path) -> tuple[int, str]:
    import contextlib
    import io

    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(suite)])
    return code, (out.getvalue() + err.getvalue()).strip()


def test_harness_validate_refuses_a_tokenizer_that_is_not_the_model_s(tmp_path: Path):
    """The tokenizer gives ids up to len(VOCAB) - 1; a model with a smaller vocabulary cannot take them: one line
    at validate time naming the model and both sizes, before a run trains anything."""
    from harness.preflight import checked_dataset
    from harness.suite import load_suite
    from tests.tiny_text import save_tokenizer

    save_tokenizer(tmp_path / "tok")
    save_bert(tmp_path / "small", vocab_size=20, tokenizer=False)
    suite = _text_suite(tmp_path, "small", "tok")
    code, text = _validate(suite)
    assert code == 2 and text == (f"{suite}: teacher: hf: the dataset's token ids go up to {len(VOCAB) - 1}, beyond "
                                  f"the vocabulary of {tmp_path / 'small'} (vocab_size 20): the dataset's tokenizer "
                                  f"is not the model's")
    with pytest.raises(HarnessError, match=r"^teacher: hf: the dataset's token ids go up to"):
        checked_dataset(load_suite(suite))  # what a run calls before its run directory exists
    save_bert(tmp_path / "same", tokenizer=False)
    code, text = _validate(_text_suite(tmp_path, "same", "tok"))
    assert code == 0 and text.endswith("data: 24 train / 6 test, input (12,), 3 classes, 30 rows in texts.csv"), text


def test_harness_validate_refuses_more_layers_than_the_model_has(tmp_path: Path):
    from tests.tiny_text import save_tokenizer

    save_tokenizer(tmp_path / "tok")
    save_bert(tmp_path / "bert", tokenizer=False)
    suite = _text_suite(tmp_path, "bert", "tok")
    suite.write_text(suite.read_text().replace("init: teacher, method", "arch: hf, params: {model: bert, layers: 3}, "
                                                                         "method"))
    code, text = _validate(suite)
    assert code == 2 and text == f"{suite}: student h: hf: layers=3, but {tmp_path / 'bert'} has 2 (allowed: 1..2)"
