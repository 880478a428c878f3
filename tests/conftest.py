"""Shared fixtures: tiny randomly initialised Llama checkpoints with tiny byte-level tokenizers.

Nothing is downloaded: the tokenizer is trained here on a few sentences, the model has 2 layers
and hidden size 64, and both are saved as an ordinary Hugging Face checkpoint folder, so the
same `load_model(path)` code that serves users' checkpoints is exercised.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

import qfocus.models

# Tests compare against fp32 references: `--dtype auto` resolves to float32 here whatever the CPU, so
# the suite behaves alike on every machine; bf16 is tested where a test asks for it by name.
qfocus.models.native_bf16 = lambda: False

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "The board met on Tuesday to discuss the budget, the new pumping station and staffing.",
    "Marketing presented the survey results; the team agreed to ship the remote control in red.",
    "Query: what was decided? Document: the meeting minutes follow. Answer the query.",
    "Speaker A: I think we should delay the launch. Speaker B: the data says otherwise.",
    "Numbers 0 1 2 3 4 5 6 7 8 9 and punctuation , . ; : ! ? ( ) [ ] ... \u00e9\u00e8\u00fc \u4e2d\u6587",
]


def make_tiny_checkpoint(folder: Path, *, chat: bool = True, window: int = 256, seed: int = 0) -> Path:
    """Write a tiny random Llama + tokenizer checkpoint to `folder` and return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    if not chat:  # a base model: adds <s> to plain text, like Llama and Gemma tokenizers
        from tokenizers.processors import TemplateProcessing

        tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 3)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="<|im_end|>" if chat else "<|endoftext|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE if chat else None,
    )
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=window,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        # Wider than the default 0.02: with hidden 64 and a frozen final norm, 0.02 bounds every logit
        # to about ±1.3, so no adapter could fit anything; trained models have far larger output norms.
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A chat model (template like SmolLM2's) with a 256-token window."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="session")
def tiny_base_checkpoint(tmp_path_factory) -> Path:
    """A base model: no chat template, tokenizer adds <s>; other weights than `tiny_checkpoint`."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny-base"), chat=False, seed=1)


@pytest.fixture(scope="session")
def tiny_lm(tiny_checkpoint):
    from qfocus.models import load_model

    return load_model(str(tiny_checkpoint))


@pytest.fixture(scope="session")
def tiny_base_lm(tiny_base_checkpoint):
    from qfocus.models import load_model

    return load_model(str(tiny_base_checkpoint))


def long_text(words: int) -> str:
    """Deterministic prose of about `words` words, with numbered sentences so head and tail differ."""
    base = CORPUS[0].split() + CORPUS[1].split()
    out = []
    for i in range(words):
        out.append(base[i % len(base)])
        if i % 12 == 11:
            out.append(f"({i}).")
    return " ".join(out)


@contextlib.contextmanager
def serving(app):
    """Run the ASGI `app` with uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (server.started and server.servers):
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)

