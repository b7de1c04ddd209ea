"""sdar.models: load policies, sample token ids, score responses.

See docs/models.md. Token ids in, token ids out: nothing here decodes sampled text to
re-encode it.
"""

from sdar.models.generate import Generation, SamplingParams, generate
from sdar.models.load import (
    ModelNotFoundError,
    frozen_copy,
    load_policy,
    materialise_smollm2,
    reference_context,
    resolve_model,
)
from sdar.models.logprobs import Batch, collate, response_logprobs, score
from sdar.models.tiny import build_tiny_model, build_word_tokenizer, save_tiny

__all__ = [
    "Batch",
    "Generation",
    "ModelNotFoundError",
    "SamplingParams",
    "build_tiny_model",
    "build_word_tokenizer",
    "collate",
    "frozen_copy",
    "generate",
    "load_policy",
    "materialise_smollm2",
    "reference_context",
    "resolve_model",
    "response_logprobs",
    "save_tiny",
    "score",
]
