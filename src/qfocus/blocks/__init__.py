"""KV blocks: reading any length with a fixed attention budget and no training (Q-LLM, InfLLM,
StreamingLLM; DESIGN §9). `rows` holds the math of one sequence in one layer, `attention` the
wrapper around each layer's attention module, `read` the execution-block driver."""

from qfocus.blocks.attention import BlockState
from qfocus.blocks.read import BlockHandle, attach_blocks, read

__all__ = ["BlockHandle", "BlockState", "attach_blocks", "read"]
