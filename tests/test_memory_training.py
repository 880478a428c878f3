"""Training through memory: per-segment backward equals one graph with the memory cut between
segments; the gates get gradients, their own param group, and are saved and loaded with the adapter."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from qfocus.hyper import HyperConfig, attach, load_adapter
from qfocus.hyper.training import IGNORE, make_batch
from qfocus.train.segment_loss import _detached, gate_values, segment_loss
from qfocus.memory.segments import read

TRIPLES = [
    ("fear", "Post one: I got my shot today. The clinic was fast. My arm hurts a bit and I am worried. " * 3,
     "The writer fears side effects of the shot."),
    ("joy", "Post two: we met our grandparents again after a year. Everyone was vaccinated. " * 4,
     "The writer is happy to see family again."),
]


def one_graph_loss(model, expert, batch, segment):
    """The reference: every segment's loss in one autograd graph, the memory detached between segments."""
    targets = torch.cat([batch.labels[:, 1:], torch.full_like(batch.labels[:, :1], IGNORE)], 1)
    count = int((targets != IGNORE).sum())
    state, total, length = None, 0.0, batch.input_ids.shape[1]
    with expert.query(batch.query_mask[:, :segment]):
        for start in range(0, length, segment):
            end = min(start + segment, length)
            logits, state = read(model, expert.memory, batch.input_ids[:, start:end],
                                 batch.query_mask[:, start:end] if start == 0 else None, segment, state,
                                 attention_mask=batch.attention_mask[:, start:end], position=start, logits_to_keep=0)
            total = total + F.cross_entropy(logits.float().flatten(0, 1), targets[:, start:end].flatten(),
                                            ignore_index=IGNORE, reduction="sum") / count
            state = _detached(state)
    return total


@pytest.mark.parametrize("method", ["ideal-lora", "lora", "none"])
def test_segment_by_segment_backward_equals_one_graph(tiny_lm, method):
    model = tiny_lm.model
    expert = attach(model, HyperConfig(method=method, rank=4, code_size=8, dropout=0.0, memory=True, segment=48))
    try:
        with torch.no_grad():  # move the adapter off its zero start so every path carries gradient
            for name, parameter in expert.named_adapter_parameters().items():
                if "lora_B" in name or "qf_beta" in name or "qf_gate" in name:
                    parameter.normal_(0, 0.05)
        batch = make_batch(tiny_lm.tokenizer, TRIPLES, max_input_tokens=200, max_summary_tokens=16, padding_side="right")
        assert batch.input_ids.shape[1] > 3 * 48  # at least four segments
        params = expert.named_adapter_parameters()

        expected_loss = one_graph_loss(model, expert, batch, 48)
        expected_loss.backward()
        missing = [n for n, p in params.items() if p.grad is None]
        assert not missing, missing
        expected = {n: p.grad.clone() for n, p in params.items()}
        model.zero_grad()
        loss = segment_loss(model, expert, batch)
        torch.testing.assert_close(loss, expected_loss.detach())
        for name, parameter in params.items():
            torch.testing.assert_close(parameter.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)
        gates = [n for n in params if n.endswith(("qf_beta", "qf_gate_weight", "qf_gate_bias"))]
        assert gates and all(params[n].grad.abs().sum() > 0 for n in gates)  # the gates learn
        if method == "ideal-lora":
            assert any(params[n].grad.abs().sum() > 0 for n in params if "qf_hypernetwork" in n)
    finally:
        model.zero_grad()
        expert.detach()


def test_gates_are_saved_loaded_and_frozen_with_the_adapter(tiny_lm, tmp_path):
    model = tiny_lm.model
    expert = attach(model, HyperConfig(method="ideal-lora", rank=4, code_size=8, memory=True, segment=48, gate_init=-1.0))
    try:
        assert gate_values(model)["gate_mean"] == pytest.approx(torch.sigmoid(torch.tensor(-1.0)).item(), abs=1e-5)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert {n.rsplit(".", 1)[-1] for n in trainable} >= {"qf_beta", "qf_gate_weight", "qf_gate_bias"}
        assert not any("embed_tokens" in n or n.endswith("q_proj.base_layer.weight") for n in trainable)
        with torch.no_grad():
            for name, parameter in expert.named_adapter_parameters().items():
                parameter.normal_(0, 0.1)
        saved = {n: p.detach().clone() for n, p in expert.named_adapter_parameters().items()}
        expert.save(tmp_path)
    finally:
        expert.detach()
    assert not gate_values(model)  # detached: no memory wrapper left
    tensors = load_file(tmp_path / "adapter.safetensors")
    assert sum(name.endswith("qf_beta") for name in tensors) == model.config.num_hidden_layers

    loaded = load_adapter(model, tmp_path)
    try:
        assert loaded.memory is not None and loaded.config.segment == 48
        for name, parameter in loaded.named_adapter_parameters().items():
            torch.testing.assert_close(parameter.detach(), saved[name])
    finally:
        loaded.detach()


def test_gates_get_their_own_learning_rate_without_weight_decay(tiny_lm):
    from qfocus.train import TrainConfig
    from qfocus.train.loop import _parameter_groups

    expert = attach(tiny_lm.model, HyperConfig(method="ideal-lora", rank=4, memory=True))
    try:
        trainable = [(n, p) for n, p in tiny_lm.model.named_parameters() if p.requires_grad]
        groups = _parameter_groups(trainable, TrainConfig(lr=1e-3, gate_lr=5e-2, weight_decay=0.1))
        seen = [id(p) for g in groups for p in g["params"]]
        assert sorted(seen) == sorted(id(p) for _, p in trainable) and len(set(seen)) == len(seen)
        gate_ids = {id(p) for n, p in trainable if n.rsplit(".", 1)[-1].startswith(("qf_beta", "qf_gate_"))}
        gate_group = [g for g in groups if {id(p) for p in g["params"]} == gate_ids]
        assert len(gate_group) == 1 and gate_group[0]["lr"] == 5e-2 and gate_group[0]["weight_decay"] == 0.0
        assert groups[0]["lr"] == 1e-3
    finally:
        expert.detach()


def test_a_query_beyond_the_first_segment_is_refused(tiny_lm):
    from qfocus.errors import InputError

    expert = attach(tiny_lm.model, HyperConfig(method="none", memory=True, segment=4))
    try:
        batch = make_batch(tiny_lm.tokenizer, TRIPLES[:1], max_input_tokens=120, padding_side="right")
        with pytest.raises(InputError, match="after the first 4-token segment"):
            segment_loss(tiny_lm.model, expert, batch)
    finally:
        expert.detach()


@pytest.mark.parametrize("config, needle", [
    (dict(method="none"), "method none adapts nothing"),
    (dict(method="ideal-prompt", memory=True), "--memory works with lora and padapter"),
    (dict(method="lora", memory=True, segment=0), "segment is 0"),
])
def test_bad_memory_configs_are_refused(config, needle):
    from qfocus.errors import InputError

    with pytest.raises(InputError, match=needle):
        HyperConfig(**config)
