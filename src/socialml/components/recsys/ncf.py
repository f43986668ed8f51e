"""The NCF network (GMF + MLP towers, He et al. 2017), with optional user features in the MLP."""

from __future__ import annotations

import torch
from torch import nn


class NCFNetwork(nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int, hidden: tuple[int, ...], n_user_features: int = 0):
        super().__init__()
        self.user_gmf = nn.Embedding(n_users, factors)
        self.item_gmf = nn.Embedding(n_items, factors)
        self.user_mlp = nn.Embedding(n_users, factors)
        self.item_mlp = nn.Embedding(n_items, factors)
        layers: list[nn.Module] = []
        width = 2 * factors + n_user_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.output = nn.Linear(factors + width, 1)
        for embedding in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(embedding.weight, std=0.01)

    def forward(self, users: torch.Tensor, items: torch.Tensor, user_features: torch.Tensor) -> torch.Tensor:
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items), user_features], dim=1))
        return self.output(torch.cat([gmf, mlp], dim=1)).squeeze(1)
