"""SASRec (Kang & McAuley, 2018): self-attentive sequential recommendation, in torch.

A causal transformer reads a user's items in time order; at each position it predicts the next item.
``loss: bce`` is the original's: binary cross-entropy on that item against one item sampled from those
the user never had. ``loss: cross_entropy`` reads the next item against every item of the catalogue
(softmax), or against ``negatives`` items drawn for the batch where the catalogue is too large for that;
Klenitskiy & Vasilev (RecSys 2023) show it lifts SASRec well past the one-negative loss. An item's score
for a user is the dot product of the last position's state with the item's embedding (shared with the
input embedding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from socialml.components.core.devices import torch_device
from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.core.progress import progress

PAD = 0  # item ids are shifted by one: 0 pads a short sequence on the left


@dataclass
class SASRec:
    factors: int = 64
    layers: int = 2
    heads: int = 1
    max_length: int = 200
    dropout: float = 0.2
    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 0.001
    loss: Literal["bce", "cross_entropy"] = "bce"
    negatives: int = 0  # cross_entropy only: items drawn per batch to read the next item against; 0 = all
    seed: int = 0
    threads: int = 1
    device: str = "auto"
    network_: Any = None
    losses_: list[float] = field(default_factory=list)

    def fit(self, sequences: Sequence[np.ndarray], n_items: int) -> SASRec:
        """``sequences``: each user's item indices (0 .. n_items-1) in time order."""
        import torch

        if self.negatives < 0 or (self.negatives and self.loss != "cross_entropy"):
            raise SettingsError(f"SASRec's negatives={self.negatives}: a count of 0 or more, with loss: cross_entropy")
        torch.manual_seed(self.seed)
        torch.set_num_threads(self.threads)
        device = torch.device(torch_device(self.device))
        rng = np.random.default_rng(self.seed)
        trainable = [np.asarray(s) for s in sequences if len(s) >= 2]
        if not trainable:
            raise DataStop("SASRec needs at least one user with two or more interactions")
        inputs = self._padded([s[:-1] for s in trainable])
        targets = self._padded([s[1:] for s in trainable])
        held = [set(s.tolist()) for s in trainable]
        from socialml.components.recsys.sasrec_network import SASRecNetwork

        self.network_ = SASRecNetwork(n_items, self.factors, self.layers, self.heads, self.max_length,
                                      self.dropout, PAD).to(device)
        optimiser = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate, betas=(0.9, 0.98))
        self.losses_ = []
        for _ in progress(range(self.epochs), desc="sasrec", leave=False):
            self.network_.train()
            order = rng.permutation(len(trainable))
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                states = self.network_(torch.as_tensor(inputs[batch], device=device))
                loss = self._loss(states, targets[batch], [held[i] for i in batch], n_items, rng)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            self.losses_.append(total / len(trainable))
        self.network_.to("cpu").eval()
        return self

    def _loss(self, states, targets: np.ndarray, held: list[set[int]], n_items: int, rng: np.random.Generator):
        """The batch's mean loss over its real (not padded) target positions."""
        import torch

        device = states.device
        positive = torch.as_tensor(targets, device=device)
        real = positive != PAD
        states, positive = states[real], positive[real]
        if self.loss == "bce":
            negative = torch.as_tensor(self._negatives(rng, targets, held, n_items), device=device)[real]
            positive_logits = (states * self.network_.items(positive)).sum(-1)
            negative_logits = (states * self.network_.items(negative)).sum(-1)[negative != PAD]
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            loss = bce(positive_logits, torch.ones_like(positive_logits))
            if len(negative_logits):  # a batch of users who had every item has no negative to read
                loss = loss + bce(negative_logits, torch.zeros_like(negative_logits))
            return loss
        if not self.negatives:
            return torch.nn.functional.cross_entropy(states @ self.network_.items.weight[1:].T, positive - 1)
        drawn = torch.as_tensor(rng.integers(1, n_items + 1, self.negatives), device=device)
        negative_logits = states @ self.network_.items(drawn).T
        # A drawn item that is the position's own next item is not a negative there.
        negative_logits = negative_logits.masked_fill(drawn[None, :] == positive[:, None], float("-inf"))
        positive_logits = (states * self.network_.items(positive)).sum(-1, keepdim=True)
        logits = torch.cat([positive_logits, negative_logits], dim=1)
        return torch.nn.functional.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=device))

    def score(self, sequences: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """(len(sequences), n_items) scores; an empty sequence scores 0 everywhere."""
        import torch

        n_items = self.network_.items.num_embeddings - 1
        out = np.zeros((len(sequences), n_items), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(sequences), batch_size):
                part = [np.asarray(s) for s in sequences[start : start + batch_size]]
                states = self.network_(torch.as_tensor(self._padded(part)))[:, -1]
                scores = states @ self.network_.items.weight[1:].T
                empty = np.array([len(s) == 0 for s in part])
                out[start : start + len(part)] = np.where(empty[:, None], 0.0, scores.numpy())
        return out

    def _padded(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """The last ``max_length`` items of each sequence, shifted by one, left-padded with PAD."""
        padded = np.full((len(sequences), self.max_length), PAD, dtype=np.int64)
        for row, items in enumerate(sequences):
            tail = np.asarray(items[-self.max_length:], dtype=np.int64) + 1
            if len(tail):
                padded[row, -len(tail):] = tail
        return padded

    @staticmethod
    def _negatives(rng: np.random.Generator, targets: np.ndarray, held: list[set[int]], n_items: int) -> np.ndarray:
        """A random item the user never had for every real target position (shifted like the targets); PAD
        (no negative) for a user who had every item."""
        negatives = rng.integers(1, n_items + 1, targets.shape)
        for row, items in enumerate(held):
            if len(items) >= n_items:
                negatives[row] = PAD
                continue
            clash = np.isin(negatives[row] - 1, list(items))
            while clash.any():  # users hold few of the items: this ends after a round or two
                negatives[row, clash] = rng.integers(1, n_items + 1, int(clash.sum()))
                clash = np.isin(negatives[row] - 1, list(items))
        return np.where(targets == PAD, PAD, negatives)
