"""Attach each HyperExpert method to the embedded model, take one training step, save, reload, detach.

    .venv/bin/python examples/attach_adapters.py
"""

import tempfile

import torch

import qfocus
from qfocus.hyper import METHODS, HyperConfig, attach, load_adapter
from qfocus.hyper.training import loss_on_batch, make_batch

lm = qfocus.load_model("smollm2")
document = open("src/qfocus/examples/water_board_meeting.md", encoding="utf-8").read()
triples = [  # (query, document, target summary)
    ("What did the board decide about the Millbrook pumping station?", document,
     "The board declared an emergency and approved buying a new pump, motor and drive, with installation to be bid."),
    ("What did the public raise?", document,
     "Speakers asked for voice-call alerts, lead pipe replacement at a childcare center and a quieter rental pump."),
]
batch = make_batch(lm.tokenizer, triples, max_input_tokens=1024)  # query_mask marks the query tokens

for method in METHODS:
    expert = attach(lm.model, HyperConfig(method=method))  # wraps modules; base weights frozen, untouched
    optimizer = torch.optim.AdamW([p for p in lm.model.parameters() if p.requires_grad], lr=7.5e-4)
    lm.model.train()
    loss = loss_on_batch(lm.model, expert, batch)  # runs inside expert.query(batch.query_mask)
    loss.backward()
    optimizer.step()
    lm.model.eval()
    with tempfile.TemporaryDirectory() as folder:
        expert.save(folder)  # adapter.safetensors + adapter_config.json
        expert.detach()  # the original modules are back
        reloaded = load_adapter(lm.model, folder)  # refuses an adapter of another base model
        print(f"{method:15s} loss {loss.item():.3f}  trainable {reloaded.parameter_counts()['trainable']:>10,}")
        reloaded.detach()
