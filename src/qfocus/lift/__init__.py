"""LIFT: long input fine-tuning at question time (seed 002, DESIGN §10).

The document is stored in adapter weights instead of the context: `segments` cuts it into
overlapping training samples (optionally contextualised), `adapters` attaches LoRA or Gated Memory
(`gated`) to any supported family, `adapt` trains them on one document, and `cache` keeps the
result per (document, model, settings). The `lift` strategy (`qfocus.strategies.lift`) puts these
together and answers from the truncated prompt with the adapted weights.
"""
