"""SASRec's torch network (``recsys.sasrec`` imports it only to train, so that serving a model without it
never imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class SASRecNetwork(nn.Module):
    def __init__(self, n_items: int, factors: int, layers: int, heads: int, max_length: int, dropout: float,
                 pad: int) -> None:
        """``pad``: the id that fills a short sequence (item ids are shifted to leave it free)."""
        super().__init__()
        self.scale, self.pad = factors ** 0.5, pad
        self.items = nn.Embedding(n_items + 1, factors, padding_idx=pad)
        self.positions = nn.Embedding(max_length, factors)
        self.dropout = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(factors, heads, dim_feedforward=factors, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(factors)
        self.register_buffer("causal", torch.triu(torch.ones(max_length, max_length, dtype=torch.bool), 1))

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """(batch, length) shifted item ids → (batch, length, factors) states."""
        length = sequences.shape[1]
        positions = torch.arange(length, device=sequences.device)
        real = (sequences != self.pad).unsqueeze(-1)
        hidden = self.dropout(self.items(sequences) * self.scale + self.positions(positions)) * real
        # Causal attention only, as the original: a key padding mask would leave the padded rows of a
        # short sequence nothing to attend to (NaN); their states are zeroed instead.
        hidden = self.blocks(hidden, mask=self.causal[:length, :length], is_causal=True)
        return self.norm(hidden) * real
