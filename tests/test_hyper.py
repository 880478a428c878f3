"""Query-aware HyperExpert and static baselines on tiny random models of every supported family."""

from __future__ import annotations

import copy

import pytest
import torch

from families import FAMILIES, tiny_model
from qfocus.errors import InputError
from qfocus.hyper import METHODS, HyperConfig, attach, load_adapter
from qfocus.hyper.expert import TARGET_PATHS
from qfocus.models.anatomy import decoder_layers
from qfocus.hyper.reader import QueryReader
from qfocus.hyper.training import loss_on_batch, make_batch
from reference_adapters import dense_lora_model, dense_padapter_model

EXACT = dict(rtol=0, atol=0)
CLOSE = dict(rtol=1e-4, atol=1e-5)


def perturb(expert, seed: int = 1) -> None:
    """Give every adapter parameter random values, so adapters change the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in expert.named_adapter_parameters().values():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)


def make_inputs(lengths, query_spans, vocab=160, side="right", seed=0):
    """Padded ids (B, T), attention mask, query mask and position ids for sequences of `lengths`."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    attention = torch.zeros_like(ids)
    query = torch.zeros_like(ids, dtype=torch.bool)
    for row, (length, (start, end)) in enumerate(zip(lengths, query_spans)):
        offset = 0 if side == "right" else width - length
        ids[row, offset:offset + length] = torch.randint(3, vocab, (length,), generator=generator)
        attention[row, offset:offset + length] = 1
        query[row, offset + start:offset + end] = True
    positions = (attention.cumsum(1) - 1).clamp_min(0)
    return ids, attention, query, positions


def real(tensor, attention, row):
    return tensor[row][attention[row].bool()]


def forward(model, expert, ids, attention, query, positions):
    with torch.no_grad(), expert.query(query):
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
        generated = {k: v.clone() for k, v in (expert.state.generated or {}).items()}
    return logits, generated


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_equals_base_model_at_initialisation(family, method):
    model = tiny_model(family)
    ids, attention, query, positions = make_inputs([12, 9], [(1, 4), (0, 6)])
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
    expert = attach(model, HyperConfig(method=method))
    logits, _ = forward(model, expert, ids, attention, query, positions)
    torch.testing.assert_close(logits, expected, **EXACT)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_batched_equals_per_example_loop(family, method, side):
    model = tiny_model(family)
    expert = attach(model, HyperConfig(method=method, dropout=0.0))
    perturb(expert)
    lengths, spans = [14, 9, 11], [(1, 5), (0, 2), (2, 9)]  # different query lengths and places
    batch = make_inputs(lengths, spans, side=side)
    logits, _ = forward(model, expert, *batch)
    for row in range(len(lengths)):
        ids, query = real(batch[0], batch[1], row)[None], real(batch[2], batch[1], row)[None]  # (1, length)
        alone = (ids, torch.ones_like(ids), query, torch.arange(ids.shape[1])[None])
        expected, _ = forward(model, expert, *alone)
        torch.testing.assert_close(real(logits, batch[1], row), expected[0], **CLOSE)


def lora_factors(model, expert, generated, row):
    """(layer, target) → (A, B) as one example sees them."""
    plan, config, layers = expert.layers, expert.config, decoder_layers(model)
    factors = {}
    for layer in (*plan.static, *plan.hyper):
        block = layers[layer].base_layer if isinstance(layers[layer], QueryReader) else layers[layer]
        for target in config.targets:
            wrapper = block.get_submodule(TARGET_PATHS[target])
            if layer in plan.hyper:
                a = generated[target][row, plan.hyper.index(layer)].view(-1, config.rank)
            else:
                a = wrapper.qf_lora_A.detach()
            factors[(layer, target)] = (a, wrapper.qf_lora_B.detach())
    return factors


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["lora", "ideal-lora"])
def test_lora_equals_dense_delta_w_reference(family, method):
    model = tiny_model(family)
    base = copy.deepcopy(model)
    config = HyperConfig(method=method, dropout=0.0, targets=("q", "k", "v", "o", "gate", "up", "down"))
    expert = attach(model, config)
    perturb(expert)
    lengths, spans = [13, 10], [(1, 6), (0, 3)]
    batch = make_inputs(lengths, spans)
    logits, generated = forward(model, expert, *batch)
    for row in range(len(lengths)):
        reference = dense_lora_model(base, lora_factors(model, expert, generated, row), config.alpha / config.rank)
        with torch.no_grad():
            expected = reference(input_ids=real(batch[0], batch[1], row)[None]).logits[0]
        torch.testing.assert_close(real(logits, batch[1], row), expected, **CLOSE)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_parallel_adapter_equals_explicit_branch_reference(family):
    model = tiny_model(family)
    base = copy.deepcopy(model)
    expert = attach(model, HyperConfig(method="ideal-padapter", dropout=0.0))
    perturb(expert)
    batch = make_inputs([12, 8], [(0, 4), (2, 5)])
    logits, generated = forward(model, expert, *batch)
    layers, plan = decoder_layers(model), expert.layers
    for row in range(2):
        factors = {}
        for layer in (*plan.static, *plan.hyper):
            block = layers[layer].base_layer if isinstance(layers[layer], QueryReader) else layers[layer]
            down = (generated["padapter"][row, plan.hyper.index(layer)].view(64, -1) if layer in plan.hyper
                    else block.mlp.qf_down)
            factors[layer] = (down, block.mlp.qf_up)
        with torch.no_grad():
            expected = dense_padapter_model(base, factors)(input_ids=real(batch[0], batch[1], row)[None]).logits[0]
        torch.testing.assert_close(real(logits, batch[1], row), expected, **CLOSE)


def test_generated_parameters_depend_on_the_query_only():
    model = tiny_model("llama")
    expert = attach(model, HyperConfig(method="ideal-lora", dropout=0.0))
    ids, attention, query, positions = make_inputs([10, 10, 10], [(0, 4)] * 3)
    ids[1, :4] = ids[0, :4]  # row 1: same query as row 0, different rest
    ids[2, :4] = (ids[0, :4] + 1) % 150 + 3  # row 2: another query
    _, generated = forward(model, expert, ids, attention, query, positions)
    for head, params in generated.items():
        torch.testing.assert_close(params[0], params[1], **EXACT)
        assert not torch.equal(params[0], params[2]), head


def overfit(lm, method: str, steps: int, lr: float = 1e-2) -> list[float]:
    expert = attach(lm.model, HyperConfig(method=method, dropout=0.0))
    triples = [
        ("What was decided about the budget?", "The board met on Tuesday. " * 8, "The budget was approved."),
        ("Who presented the survey?", "Marketing presented the survey results. " * 6, "Marketing presented it."),
        ("Which colour was chosen?", "The team agreed to ship the remote control in red. " * 5, "Red."),
        ("What about the launch?", "Speaker A: I think we should delay the launch. " * 5, "Speaker A wants a delay."),
    ]
    batch = make_batch(lm.tokenizer, triples, max_input_tokens=200)
    optimizer = torch.optim.AdamW([p for p in lm.model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    losses = []
    lm.model.train()
    try:
        for _ in range(steps):
            loss = loss_on_batch(lm.model, expert, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    finally:
        lm.model.eval()
        expert.detach()
    return losses


# Prompt methods learn through a zero-initialised gate and, when static, act almost like a bias per
# layer: like prompt tuning in the literature they need a ~10x larger learning rate than LoRA.
OVERFIT_LR = {"lora": 1e-2, "padapter": 1e-2, "prompt": 1e-1}


@pytest.mark.parametrize("method", METHODS)
def test_fifty_steps_halve_the_training_loss(tiny_lm, method):
    torch.manual_seed(0)
    losses = overfit(tiny_lm, method, steps=50, lr=OVERFIT_LR[method.removeprefix("ideal-")])
    assert losses[-1] <= 0.5 * losses[0], (method, losses[0], losses[-1])


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_adapters_and_base_weights_stay(tiny_lm, method):
    model = tiny_lm.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    expert = attach(model, HyperConfig(method=method, dropout=0.0))
    batch = make_batch(tiny_lm.tokenizer, [("What?", "The board met. " * 5, "It met."), ("Who?", "A spoke. " * 4, "A.")], 120)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    try:
        for _ in range(2):  # step 1 moves the zero-initialised parts, step 2 sends gradient through them
            optimizer.zero_grad()
            loss_on_batch(model, expert, batch).backward()
            optimizer.step()
        grads = {n: p.grad for n, p in expert.named_adapter_parameters().items()}
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values()), [n for n, g in grads.items() if g is None or not g.abs().sum()]
        if method.startswith("ideal-"):
            assert any("qf_hypernetwork" in n for n in grads)
        assert all(p.grad is None for n, p in model.named_parameters() if "qf_" not in n)
    finally:
        expert.detach()
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter, before[name], **EXACT)


@pytest.mark.parametrize("method", METHODS)
def test_save_load_round_trip_and_detach(tmp_path, method):
    model = tiny_model("llama")
    originals = {name: module for name, module in model.named_modules()}
    batch = make_inputs([11, 7], [(0, 3), (1, 4)])
    with torch.no_grad():
        plain = model(input_ids=batch[0], attention_mask=batch[1], position_ids=batch[3]).logits
    expert = attach(model, HyperConfig(method=method, dropout=0.0))
    perturb(expert)
    logits, _ = forward(model, expert, *batch)
    assert not torch.allclose(logits, plain)
    expert.save(tmp_path / "adapter")
    expert.detach()
    assert {name: module for name, module in model.named_modules()} == originals  # the very same objects
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=batch[0], attention_mask=batch[1], position_ids=batch[3]).logits, plain, **EXACT)
    fresh = tiny_model("llama")
    loaded = load_adapter(fresh, tmp_path / "adapter")
    torch.testing.assert_close(forward(fresh, loaded, *batch)[0], logits, **EXACT)


def test_loading_onto_another_base_model_fails(tmp_path):
    attach(tiny_model("llama"), HyperConfig(method="ideal-lora")).save(tmp_path / "a")
    with pytest.raises(InputError, match="different base model .*different weights"):
        load_adapter(tiny_model("llama", seed=5), tmp_path / "a")
    with pytest.raises(InputError, match="different base model .*model_type llama vs qwen2"):
        load_adapter(tiny_model("qwen2"), tmp_path / "a")
    with pytest.raises(InputError, match="is not a qfocus adapter"):
        load_adapter(tiny_model("llama"), tmp_path)


def test_only_adapter_parameters_are_trainable():
    model = tiny_model("llama")
    for method in METHODS:
        expert = attach(model, HyperConfig(method=method))
        counts = expert.parameter_counts()
        assert counts["trainable"] == counts["adapter"] > 0
        assert all(("qf_" in n) == p.requires_grad for n, p in model.named_parameters())
        expert.detach()


def test_ideal_adapters_outside_a_query_context_fail_clearly():
    model = tiny_model("llama")
    attach(model, HyperConfig(method="ideal-lora"))
    with pytest.raises(RuntimeError, match="expert.query"):
        model(input_ids=torch.tensor([[5, 6, 7]]))


@pytest.mark.parametrize("bad, message", [
    (dict(method="ideal-bitfit"), "unknown adapter method"),
    (dict(targets=("q", "z")), "targets"),
    (dict(rank=0), "rank is 0"),
])
def test_config_validation(bad, message):
    with pytest.raises(InputError, match=message):
        HyperConfig(**bad)


def test_layer_plan_validation():
    with pytest.raises(InputError, match="does not exist"):
        HyperConfig(static_layers=(0, 7)).resolve(2)
    with pytest.raises(InputError, match="both static and generated"):
        HyperConfig(static_layers=(0, 1), hyper_layers=(1,)).resolve(2)
    plan = HyperConfig().resolve(30)
    assert plan.query_layer == 15 and plan.hyper == tuple(range(15, 30)) and plan.static == tuple(range(15))


@pytest.mark.parametrize("method", ["ideal-lora", "ideal-prompt", "ideal-padapter"])
def test_different_queries_give_different_outputs_after_training(tiny_lm, method):
    model, tokenizer = tiny_lm.model, tiny_lm.tokenizer
    document = "The board met on Tuesday to discuss the budget and the pumping station. " * 4
    queries = ["What was decided about the budget?", "Who presented the survey?"]
    expert = attach(model, HyperConfig(method=method, dropout=0.0))
    try:
        batch = make_batch(tokenizer, [(q, document, "The budget was approved.") for q in queries], 200)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
        for _ in range(3):
            loss_on_batch(model, expert, batch).backward()
            optimizer.step()
            optimizer.zero_grad()
        with torch.no_grad():
            with expert.query(batch.query_mask):
                adapted = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
                generated = {k: v.clone() for k, v in expert.state.generated.items()}
        for params in generated.values():
            assert not torch.allclose(params[0], params[1])
    finally:
        expert.detach()
    with torch.no_grad():
        plain = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    # the adapter's contribution at the same answer token in both rows (5 before the end): queries differ
    end = [int(row.nonzero().max()) for row in (batch.labels != -100)]
    shift = [adapted[i, end[i] - 5] - plain[i, end[i] - 5] for i in range(2)]
    assert (shift[0] - shift[1]).abs().max() > 1e-3


@pytest.mark.parametrize("method", ["lora", "ideal-lora"])
def test_loaded_adapter_runs_in_eval_mode_and_is_deterministic(tmp_path, tiny_checkpoint, method):
    """An adapter attached to a model in eval mode must not apply dropout: generation is deterministic."""
    from qfocus.models import load_model

    lm = load_model(str(tiny_checkpoint))
    attach(lm.model, HyperConfig(method=method, dropout=0.5)).save(tmp_path / "a")
    loaded = load_model(str(tiny_checkpoint), adapter=str(tmp_path / "a"))
    assert not any(module.training for module in loaded.model.modules())
    with torch.no_grad():
        for p in loaded.expert.named_adapter_parameters().values():
            p.normal_(0, 0.1)
        ids = torch.randint(5, 100, (1, 12))
        mask = torch.zeros_like(ids, dtype=torch.bool)
        mask[:, :4] = True
        with loaded.expert.query(mask):
            first = loaded.model(input_ids=ids).logits
        with loaded.expert.query(mask):
            second = loaded.model(input_ids=ids).logits
    torch.testing.assert_close(first, second, rtol=0, atol=0)
