import pandas as pd
import pytest

from socialml.components.data.canonical import SENTIMENTS
from socialml.components.data.demo_lexicon import TOPICS
from socialml.components.data.demo_platform import (
    RAW_TABLES, DemoPlatformConfig, generate_demo_platform, generate_survey_answers,
)
from tests.conftest import TINY


def test_same_seed_same_platform_other_seed_other_platform(tiny_platform):
    again = generate_demo_platform(TINY)
    for name in RAW_TABLES:
        pd.testing.assert_frame_equal(tiny_platform[name], again[name])
    other = generate_demo_platform(DemoPlatformConfig(**{**TINY.__dict__, "seed": 1}))
    assert not other["feed_data"].equals(tiny_platform["feed_data"])


def test_returns_every_declared_raw_table(tiny_platform):
    assert set(tiny_platform) == set(RAW_TABLES)


def test_sizes_follow_the_configuration(tiny_platform):
    assert len(tiny_platform["post_text"]) == TINY.n_posts
    # Views + likes land near the requested event count (likes are drawn, so not exactly).
    assert 0.8 * TINY.n_feed_events < len(tiny_platform["feed_data"]) < 1.3 * TINY.n_feed_events
    assert len(tiny_platform["truth_answer_groups"]) == TINY.answers_per_question * TINY.n_questions


def test_posts_carry_one_to_three_topics_and_some_empty_fields(tiny_platform):
    posts = tiny_platform["post_text"]
    topics = posts["topics"].str.split("|")
    assert topics.map(len).between(1, 3).all()
    assert set(topics.explode()) <= set(TOPICS)
    fields = posts[["text", "image_text", "audio_text"]]
    assert (fields == "").any().all(), "every field is sometimes empty"
    assert (fields != "").any(axis=1).all(), "no post is entirely empty"


def test_likes_follow_planted_affinities():
    platform = generate_demo_platform(DemoPlatformConfig(n_users=300, n_posts=300, n_feed_events=30_000))
    affinity = platform["truth_user_affinities"]
    topics = platform["post_text"].assign(topic=lambda d: d["topics"].str.split("|")).explode("topic")
    feed = platform["feed_data"].drop_duplicates(["user_id", "post_id", "action"])
    liked = feed[feed["action"] == "like"][["user_id", "post_id"]].assign(liked=True)
    views = feed[feed["action"] == "view"][["user_id", "post_id"]].merge(liked, how="left", on=["user_id", "post_id"])
    match = (views.merge(topics[["post_id", "topic"]], on="post_id").merge(affinity, on=["user_id", "topic"])
             .groupby(["user_id", "post_id"])["affinity"].mean().rename("match"))
    frame = views.set_index(["user_id", "post_id"]).join(match, how="inner").fillna({"liked": False})
    top, bottom = frame["match"] > frame["match"].quantile(0.8), frame["match"] < frame["match"].quantile(0.2)
    assert frame.loc[top, "liked"].mean() > 2 * frame.loc[bottom, "liked"].mean()


def test_answers_have_groups_typos_and_emoji(tiny_platform):
    answers = tiny_platform["survey_answers"]
    truth = tiny_platform["truth_answer_groups"]
    assert truth["group"].nunique() >= 5 * TINY.n_questions - 2
    text = answers["answer"]
    assert text.str.contains("[\U0001f300-\U0001faff]", regex=True).any()
    assert text.str.contains("!!!", regex=False).any()
    assert set(truth["sentiment"]) == {"positive", "neutral", "negative"}


def test_the_survey_answers_alone_follow_their_seed_each_with_its_planted_sentiment():
    config = DemoPlatformConfig(seed=5, answers_per_question=40, n_questions=3)
    answers, truth = generate_survey_answers(config)
    pd.testing.assert_frame_equal(answers, generate_survey_answers(config)[0])
    assert len(answers) == 120 and answers["question_id"].nunique() == 3 and answers["answer"].str.len().min() > 0
    assert truth["answer_id"].tolist() == answers["answer_id"].tolist() and set(truth["sentiment"]) == set(SENTIMENTS)
    other, _ = generate_survey_answers(DemoPlatformConfig(seed=6, answers_per_question=40, n_questions=3))
    assert not other["answer"].equals(answers["answer"])


def test_ground_truth_is_kept_apart_from_raw_tables(tiny_platform):
    for name in RAW_TABLES:
        if name.startswith("truth_"):
            continue
        assert "affinity" not in tiny_platform[name].columns
        assert "group" not in tiny_platform[name].columns


def test_dirty_rows_are_planted(tiny_platform):
    assert (tiny_platform["feed_data"]["user_id"] == -1).any()
    assert (tiny_platform["user_data"]["age"] < 0).any()
    assert tiny_platform["feed_data"].duplicated().any()


def test_audience_signal_age_shifts_categories():
    platform = generate_demo_platform(DemoPlatformConfig(n_users=400, n_video_views=20_000))
    views = platform["video_views"].merge(platform["videos"], on="video_id").merge(platform["user_data"], on="user_id")
    young = views[views["age"] < 18]["category"].eq("cartoons").mean()
    old = views[views["age"] > 45]["category"].eq("cartoons").mean()
    assert young > 2 * old


def _category_shares_by_sex(platform: dict) -> pd.Series:
    views = platform["video_views"].merge(platform["videos"], on="video_id").merge(platform["user_data"], on="user_id")
    return views.groupby("gender")["category"].apply(lambda c: c.eq("sport").mean())


def test_noise_blurs_the_labels_and_the_audience_signal_but_not_the_planted_structure():
    sizes = {"n_users": 400, "n_posts": 600, "n_sentiment_texts": 1000, "n_video_views": 20_000}
    clean = generate_demo_platform(DemoPlatformConfig(**sizes))
    noisy = generate_demo_platform(DemoPlatformConfig(**sizes, topic_label_noise=0.4, sentiment_label_noise=0.2,
                                                      sentiment_mixed_share=0.3, audience_signal=0.5))
    # The planted structure is drawn from the same stream: the same users, feed and post texts.
    pd.testing.assert_frame_equal(clean["feed_data"], noisy["feed_data"])
    pd.testing.assert_frame_equal(clean["user_data"], noisy["user_data"])
    assert clean["post_text"]["text"].equals(noisy["post_text"]["text"])
    # About 40 % of posts carry other labels than their topics, each label still a known topic.
    changed = (clean["post_text"]["topics"] != noisy["post_text"]["topics"]).mean()
    assert 0.3 < changed < 0.5
    assert set(noisy["post_text"]["topics"].str.split("|").explode()) <= set(TOPICS)
    # Sentiment: a fifth of labels flipped to another class, mixed texts joined by "но".
    flipped = (clean["sentiment_corpus"]["label"] != noisy["sentiment_corpus"]["label"]).mean()
    assert 0.15 < flipped < 0.25
    assert noisy["sentiment_corpus"]["text"].str.contains(", но ").mean() > 0.2
    # Men watch sport more either way, less markedly with half the signal.
    clean_shares, noisy_shares = _category_shares_by_sex(clean), _category_shares_by_sex(noisy)
    assert clean_shares[1] / clean_shares[0] > noisy_shares[1] / noisy_shares[0] > 1.2


def test_holdings_start_with_a_current_account_and_grow(tiny_platform):
    holdings = tiny_platform["client_products"]
    first = holdings.sort_values("opened_at", kind="stable").groupby("client_id")["product"].first()
    assert (first == "current_account").all()
    assert not holdings.duplicated(["client_id", "product"]).any()


@pytest.mark.parametrize("bad", [{"n_users": 0}, {"n_questions": 99}, {"topic_label_noise": 1.5},
                                 {"audience_signal": -0.1}])
def test_bad_configuration_is_refused(bad):
    with pytest.raises(ValueError):
        DemoPlatformConfig(**bad)
