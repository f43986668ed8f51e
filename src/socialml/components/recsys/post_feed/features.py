"""Features of each (request, candidate post) pair, for the ranker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialml.components.recsys.post_feed.generators import Candidates
from socialml.components.recsys.post_feed.history import FeedHistory

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class FeedFeatures:
    """Generator scores and ranks, post and user statistics, user × post topic match, time of day and
    weekday, post age, recent views and expected likes; with post embeddings, the cosine of the post
    to the user's liked posts, and with ``text_components`` the embedding's components themselves."""

    text_components: bool = False

    def build(self, history: FeedHistory, candidates: Candidates, generator_names: list[str], rows: np.ndarray,
              times: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(pairs × features float32 matrix with NaN for missing values, feature names); ``times`` in epoch seconds."""
        request_pos, cols = candidates.request_pos, candidates.cols
        user_rows = rows[request_pos]
        request_times = times[request_pos]
        topic_match = history.topic_match(user_rows, cols)
        blocks = [candidates.scores, candidates.ranks, history.post_values[cols], history.user_values[user_rows],
                  np.stack([topic_match, (request_times % SECONDS_PER_DAY) / 3600,
                            (request_times // SECONDS_PER_DAY + 3) % 7,  # 1970-01-01 was a Thursday
                            (request_times - history.created[cols]) / 3600, history.recent_popularity[cols],
                            # views × the user's like rate for the post's topics: expected likes, spelled
                            # out because trees approximate products poorly
                            history.recent_popularity[cols] * topic_match], axis=1)]
        names = ([f"score_{g}" for g in generator_names] + [f"rank_{g}" for g in generator_names]
                 + [f"post_{c}" for c in history.post_names] + [f"user_{c}" for c in history.user_names]
                 + ["user_post_topic_match", "request_hour", "request_weekday", "post_age_hours",
                    "post_recent_views", "expected_recent_likes"])
        if history.post_vectors is not None:
            vectors = np.nan_to_num(history.post_vectors[cols])
            profiles = history.user_profiles[user_rows]
            cosine = (vectors * profiles).sum(axis=1) / (
                np.linalg.norm(vectors, axis=1) * np.linalg.norm(profiles, axis=1) + 1e-9)
            blocks.append(cosine[:, None])
            names.append("user_post_text_cosine")
            if self.text_components:
                blocks.append(history.post_vectors[cols])
                names += [f"post_text_pc{i:02d}" for i in range(vectors.shape[1])]
        x = np.hstack(blocks).astype(np.float32)
        x[np.isinf(x)] = np.nan
        return x, names
