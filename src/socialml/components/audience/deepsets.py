"""Torch modules for sets of timed events: Time2Vec (Kazemi et al., 2019) and DeepSets (Zaheer et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn


class Time2Vec(nn.Module):
    """One linear and ``dim - 1`` periodic (sine) components of the time features."""

    def __init__(self, inputs: int, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, 1)
        self.periodic = nn.Linear(inputs, dim - 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.linear(t), torch.sin(self.periodic(t))], dim=-1)


class DeepSets(nn.Module):
    """phi(item embedding ⊕ Time2Vec) per element, mean- and max-pooled with the set size, then rho and one head per target."""

    def __init__(self, n_items: int, n_classes: dict[str, int], embedding_dim: int, time_dim: int, hidden: int,
                 dropout: float, time_inputs: int = 2) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, embedding_dim, padding_idx=0)
        self.time = Time2Vec(time_inputs, time_dim)
        self.phi = nn.Sequential(nn.Linear(embedding_dim + time_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.heads = nn.ModuleDict({target: nn.Linear(hidden, k) for target, k in n_classes.items()})

    def forward(self, item: torch.Tensor, times: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        # Sets are padded to max_items (a user has 30 views on average, not 256): pooling reads the batch's
        # slots up to its last real element, phi runs on the real elements only, and the padding is zeros,
        # as pooling masks it anyway.
        filled = mask.any(0).nonzero()
        width = int(filled[-1]) + 1 if len(filled) else 1
        item, times, mask = item[:, :width], times[:, :width], mask[:, :width]
        real = self.phi(torch.cat([self.items(item[mask]), self.time(times[mask])], dim=-1))
        h = real.new_zeros(*mask.shape, real.shape[-1]).index_put((*mask.nonzero(as_tuple=True),), real)
        m = mask.unsqueeze(-1).float()
        count = m.sum(1).clamp(min=1)
        # An empty set (every view of an item unknown to the model) max-pools to zeros, as it mean-pools: the
        # masked slots' -1e4 would otherwise reach the heads as certainty about nothing.
        largest = (h * m - (1 - m) * 1e4).max(1).values * mask.any(1, keepdim=True)
        pooled = torch.cat([(h * m).sum(1) / count, largest, torch.log(count)], dim=-1)
        z = self.rho(pooled)
        return {target: head(z) for target, head in self.heads.items()}
