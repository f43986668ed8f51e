"""A synthetic social platform with planted structure, deterministic by seed.

The generator writes the platform's *raw* tables, laid out like its operational database
(the same shape as the karpov_social dump: ``user_data``, ``post_text``, ``feed_data``, ...),
so that ingestion adapts and validates them like any other source. The planted structure
(topic affinities, answer groups, audience effects, product chains) is returned in separate
``truth_*`` tables that no model reads and evaluation scores against.

A small share of deliberately bad rows (duplicates, unknown ids, impossible values, empty
texts) is mixed in, so that every run exercises the quarantine path.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from socialml.components.core.errors import SettingsError
from socialml.components.data import demo_lexicon as lex

SECONDS_PER_DAY = 86_400
SENTIMENT_SHARES = {"positive": 0.35, "negative": 0.25, "neutral": 0.4}  # of the demo's labelled texts
# Every table generate_demo_platform returns: the platform's raw tables and the truth_* tables.
RAW_TABLES = (
    "regions", "user_data", "truth_user_affinities", "post_text", "feed_data", "survey_answers",
    "truth_answer_groups", "sentiment_corpus", "videos", "video_views", "clients", "client_products",
)


@dataclass(frozen=True)
class DemoPlatformConfig:
    seed: int = 0
    n_users: int = 2_000
    n_posts: int = 3_000
    n_feed_events: int = 600_000
    answers_per_question: int = 300
    n_questions: int = len(lex.SURVEY_QUESTIONS)
    n_sentiment_texts: int = 3_000
    n_videos: int = 1_000
    n_video_views: int = 60_000
    n_clients: int = 3_000
    start: str = "2024-01-01"
    days: int = 90
    english_share: float = 0.1
    distractor_share: float = 0.15  # posts that also mention a topic they are not labelled with
    dirty_share: float = 0.002
    # Noise that keeps the demo's tasks short of perfect, so that `kedro run` tells models apart
    # (0 and 1: the planted structure exactly, as the tests' small platforms use it).
    topic_label_noise: float = 0.0  # share of posts whose labels miss one of their topics or gain a wrong one
    sentiment_label_noise: float = 0.0  # share of texts an annotator labelled with another class
    sentiment_mixed_share: float = 0.0  # texts of two polarities ("..., но ..."), labelled by the part after "но"
    audience_signal: float = 1.0  # weight of age and sex in what users watch and when, against personal taste
    # "int", or "string": every id gets a shape real systems use (UUID users, prefixed posts,
    # answers and questions, hashed videos and texts, "7590-VHVEG"-like clients), so that every
    # system is run on string ids.
    id_style: str = "int"

    def __post_init__(self) -> None:
        if self.id_style not in ("int", "string"):
            raise SettingsError(f"demo_platform.id_style must be int or string, got '{self.id_style}'")
        if self.n_questions > len(lex.SURVEY_QUESTIONS):
            raise SettingsError(
                f"demo_platform.n_questions={self.n_questions}: the demo lexicon has {len(lex.SURVEY_QUESTIONS)} "
                "questions"
            )
        for name, value in asdict(self).items():
            if name.startswith("n_") and value < 1:
                raise SettingsError(f"demo_platform.{name} must be positive, got {value}")
            if name.endswith(("_share", "_noise", "_signal")) and not 0 <= value <= 1:
                raise SettingsError(f"demo_platform.{name} must be within [0, 1], got {value}")


def generate_demo_platform(config: DemoPlatformConfig) -> dict[str, pd.DataFrame]:
    """All raw tables of the demo platform plus its ground-truth tables (prefixed ``truth_``)."""
    rng = np.random.default_rng(config.seed)
    start = pd.Timestamp(config.start)
    tables: dict[str, pd.DataFrame] = {}
    tables["regions"] = _regions(rng)
    users, affinity = _users(rng, config, tables["regions"])
    tables["user_data"] = users
    tables["truth_user_affinities"] = _affinity_table(users, affinity)
    posts, post_topics = _posts(rng, config, start)
    tables["post_text"] = posts
    tables["feed_data"] = _feed(rng, config, users, affinity, posts, post_topics)
    tables["survey_answers"], tables["truth_answer_groups"] = _answers(rng, config)
    tables["sentiment_corpus"] = _sentiment_corpus(rng, config)
    tables["videos"] = _videos(rng, config)
    tables["video_views"] = _video_views(rng, config, users, tables["videos"], start)
    tables["clients"], tables["client_products"] = _clients_and_products(rng, config, tables["regions"], start)
    _add_dirt(rng, config, tables)
    if config.id_style == "string":
        _string_ids(tables, config.seed)
    return tables


def generate_survey_answers(config: DemoPlatformConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo survey's answers and their planted sentiment alone, from a random stream of their own (the
    platform's answers are drawn after its users and posts): answers of known sentiment in a survey's words
    for a source that has none."""
    return _answers(np.random.default_rng(config.seed), config)


def _string_ids(tables: dict[str, pd.DataFrame], seed: int) -> None:
    """Replace every entity id by a string of a common real shape, the same id in every table."""
    shapes = {
        "user_id": lambda i: str(uuid.UUID(int=int(i) % 2**64 * 2**64 + seed)),
        "post_id": lambda i: f"post-{int(i):05d}",
        "video_id": lambda i: f"v_{int(i) * 2654435761 % 2**32:08x}",
        "client_id": lambda i: f"{int(i) % 10_000:04d}-{_letters(int(i))}",
        "answer_id": lambda i: f"ans-{int(i)}",
        "question_id": lambda i: f"Q{int(i)}",
    }
    for frame in tables.values():
        for column, shape in shapes.items():
            if column in frame:
                frame[column] = frame[column].map(shape, na_action="ignore").astype(object)
    corpus = tables["sentiment_corpus"]
    corpus["id"] = corpus["id"].map(lambda i: f"{int(i) * 40503 % 2**20:05x}-{int(i)}").astype(object)


def _letters(number: int) -> str:
    letters = []
    for _ in range(5):
        number, digit = divmod(number, 26)
        letters.append(chr(ord("A") + digit))
    return "".join(letters)


def _regions(rng: np.random.Generator) -> pd.DataFrame:
    names, cities, population = zip(*lex.REGIONS)
    n = len(names)
    population = np.array(population, dtype=float)
    capital_like = population > 5_000
    return pd.DataFrame(
        {
            "region": names,
            "main_city": cities,
            "population_thousands": population,
            "median_income_rub": np.round(rng.normal(45_000, 8_000, n) + capital_like * 35_000, -2),
            "internet_share": np.clip(rng.normal(0.82, 0.05, n) + capital_like * 0.08, 0, 1).round(3),
            "urban_share": np.clip(rng.normal(0.72, 0.08, n) + capital_like * 0.2, 0, 1).round(3),
            "median_age": rng.normal(40, 2.5, n).round(1),
            "unemployment_rate": np.clip(rng.normal(0.045, 0.012, n), 0.01, None).round(3),
        }
    )


def _users(rng, config: DemoPlatformConfig, regions: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    n = config.n_users
    gender = rng.integers(0, 2, n)  # 1 = male, as in the platform's database
    age = np.clip(rng.gamma(6.0, 5.5, n) + 10, 14, 80).astype(int)
    weights = regions["population_thousands"].to_numpy() / regions["population_thousands"].sum()
    region_idx = rng.choice(len(regions), n, p=weights)
    in_russia = rng.random(n) < 0.9
    country = np.where(in_russia, "Russia", rng.choice(["Ukraine", "Belarus", "Kazakhstan", "Finland"], n))
    region = np.where(in_russia, regions["region"].to_numpy()[region_idx], None)
    city = np.where(in_russia, regions["main_city"].to_numpy()[region_idx], "")
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, n + 1) * 7 + 100,  # sparse ids, as real platforms have
            "gender": gender,
            "age": age,
            "country": country,
            "city": city,
            "region": region,
            "os": rng.choice(["Android", "iOS"], n, p=[0.7, 0.3]),
            "source": rng.choice(["ads", "organic"], n, p=[0.6, 0.4]),
            "exp_group": rng.integers(0, 5, n),
        }
    )
    # Affinities: a personal Dirichlet draw tilted by age and sex.
    base = rng.dirichlet(np.full(len(lex.TOPICS), 0.6), n)
    young, old, male = (age < 25), (age >= 45), (gender == 1)
    tilt = np.ones((n, len(lex.TOPICS)))
    tilt[:, 0] += 1.5 * male  # sport
    tilt[:, 1] += 1.5 * young  # humor
    tilt[:, 3] += 1.2 * young  # social networks
    tilt[:, 4] += 1.8 * old  # politics
    tilt[:, 5] += 1.5 * (~male)  # personal life
    affinity = base * tilt
    affinity /= affinity.sum(axis=1, keepdims=True)
    return users, affinity


def _affinity_table(users: pd.DataFrame, affinity: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.repeat(users["user_id"].to_numpy(), len(lex.TOPICS)),
            "topic": np.tile(lex.TOPICS, len(users)),
            "affinity": affinity.ravel().round(5),
        }
    )


def _pick(rng, options: list[str]) -> str:
    return options[rng.integers(len(options))]


def _posts(rng, config: DemoPlatformConfig, start: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:
    n, k = config.n_posts, len(lex.TOPICS)
    n_topics = rng.choice([1, 2, 3], n, p=[0.55, 0.33, 0.12])
    topic_matrix = np.zeros((n, k), dtype=np.float32)
    doc_text, image_text, audio_text, topic_strings = [], [], [], []
    english = rng.random(n) < config.english_share
    for i in range(n):
        topics = rng.choice(k, n_topics[i], replace=False)
        topic_matrix[i, topics] = 1
        names = [lex.TOPICS[t] for t in topics]
        bank = lex.POST_PHRASES_EN if english[i] else lex.POST_PHRASES_RU
        sentences = list(dict.fromkeys(_pick(rng, bank[t]) for t in names for _ in range(rng.integers(1, 3))))
        if rng.random() < config.distractor_share:
            sentences.append(_pick(rng, bank[_pick(rng, [t for t in lex.TOPICS if t not in names])]))
        if rng.random() < 0.5:
            sentences.append(_pick(rng, lex.SMALL_TALK_EN if english[i] else lex.SMALL_TALK_RU))
        rng.shuffle(sentences)
        # Which fields carry text: at least one, often two, sometimes all three.
        fields = rng.random(3) < [0.8, 0.45, 0.35]
        if not fields.any():
            fields[rng.integers(3)] = True
        doc_text.append(". ".join(sentences) + "." if fields[0] else "")
        image_text.append(", ".join(_pick(rng, lex.IMAGE_CAPTIONS[t]) for t in names) if fields[1] else "")
        audio_text.append(" ".join(_pick(rng, lex.SPEECH_SNIPPETS[t]) for t in names) if fields[2] else "")
        topic_strings.append("|".join(names))
    created = start + pd.to_timedelta(rng.uniform(0, config.days * SECONDS_PER_DAY, n), unit="s")
    if config.topic_label_noise:
        topic_strings = _noisy_topic_labels(_noise_rng(config, "topics"), topic_strings, config.topic_label_noise)
    posts = pd.DataFrame(
        {
            "post_id": np.arange(1, n + 1),
            "created_at": created.floor("s"),
            "text": doc_text,
            "image_text": image_text,
            "audio_text": audio_text,
            "topics": topic_strings,
        }
    )
    return posts, topic_matrix


def _noise_rng(config: DemoPlatformConfig, part: str) -> np.random.Generator:
    """A generator of its own per kind of noise, so that the planted structure is the same with or without it."""
    return np.random.default_rng([config.seed, *part.encode()])


def _noisy_topic_labels(rng, labels: list[str], share: float) -> list[str]:
    """Labels as annotators give them: a share of posts misses one of its topics or gains a wrong one."""
    out = []
    for text, noisy in zip(labels, rng.random(len(labels)) < share):
        names = text.split("|")
        if noisy and len(names) > 1 and rng.random() < 0.5:
            names.pop(int(rng.integers(len(names))))
        elif noisy:
            names.append(_pick(rng, [t for t in lex.TOPICS if t not in names]))
        out.append("|".join(names))
    return out


def _feed(rng, config, users, affinity, posts, post_topics) -> pd.DataFrame:
    """Views sampled by user activity and post popularity; likes driven by topic affinity."""
    n_users, n_posts = len(users), len(posts)
    # Every view has one like with probability ~0.12, so views ≈ events / 1.12.
    n_views = max(1, int(config.n_feed_events / 1.12))
    activity = rng.lognormal(0, 1.0, n_users)
    popularity = rng.pareto(1.5, n_posts) + 1
    u = rng.choice(n_users, n_views, p=activity / activity.sum())
    p = rng.choice(n_posts, n_views, p=popularity / popularity.sum())
    match = (affinity[u].astype(np.float32) * post_topics[p]).sum(axis=1) / post_topics[p].sum(axis=1)
    quality = rng.normal(0, 0.4, n_posts)[p]
    like_logit = -3.4 + 9.0 * match + quality
    liked = rng.random(n_views) < 1 / (1 + np.exp(-like_logit))
    # Each user is active around a personal hour of the day.
    peak_hour = rng.choice(24, n_users, p=_hour_profile())
    hour = (peak_hour[u] + rng.normal(0, 2.5, n_views).round().astype(int)) % 24
    created = posts["created_at"].to_numpy()[p]
    day_offset = np.floor(rng.exponential(3.0, n_views))
    view_time = (
        created.astype("datetime64[D]")
        + (day_offset * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, n_views)).astype("timedelta64[s]")
    )
    # A view cannot precede its post: push those to the next day at the same hour.
    view_time = np.where(view_time <= created, view_time + np.timedelta64(SECONDS_PER_DAY, "s"), view_time)
    user_ids = users["user_id"].to_numpy()[u]
    post_ids = posts["post_id"].to_numpy()[p]
    like_delay = rng.integers(5, 600, int(liked.sum())).astype("timedelta64[s]")
    feed = pd.DataFrame(
        {
            "timestamp": np.concatenate([view_time, view_time[liked] + like_delay]),
            "user_id": np.concatenate([user_ids, user_ids[liked]]),
            "post_id": np.concatenate([post_ids, post_ids[liked]]),
            "action": np.concatenate([np.full(n_views, "view"), np.full(int(liked.sum()), "like")]),
        }
    )
    feed["timestamp"] = feed["timestamp"].astype("datetime64[s]")
    return feed.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _hour_profile() -> np.ndarray:
    hours = np.arange(24)
    profile = 0.2 + np.exp(-((hours - 13) ** 2) / 18) + 1.4 * np.exp(-((hours - 21) ** 2) / 8)
    return profile / profile.sum()


def _noisy(rng, text: str, sentiment: str) -> str:
    """Paraphrase noise as people type it: typos, ё→е, case, emoji, repeated punctuation."""
    if rng.random() < 0.25 and len(text) > 4:
        i = rng.integers(1, len(text) - 1)
        kind = rng.integers(3)
        if kind == 0:
            text = text[:i] + text[i + 1 :]  # dropped letter
        elif kind == 1:
            text = text[:i] + text[i] + text[i:]  # doubled letter
        else:
            text = text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]  # swapped letters
    if rng.random() < 0.4:
        text = text.replace("ё", "е")
    if rng.random() < 0.3:
        text = text.capitalize()
    text += _pick(rng, lex.PUNCTUATION_ENDINGS)
    if rng.random() < 0.3:
        emoji = _pick(rng, lex.EMOJI[sentiment])
        text += " " + emoji * int(rng.integers(1, 4))
    return text


def _answers(rng, config: DemoPlatformConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, truth = [], []
    answer_id = 0
    for q_index, (question, groups) in enumerate(list(lex.SURVEY_QUESTIONS.items())[: config.n_questions]):
        names = list(groups)
        sizes = rng.dirichlet(np.full(len(names), 2.0))
        choice = rng.choice(len(names), config.answers_per_question, p=sizes)
        for g in choice:
            sentiment, paraphrases = groups[names[g]]
            answer_id += 1
            rows.append((answer_id, 1000 + q_index, question, _noisy(rng, _pick(rng, paraphrases), sentiment)))
            truth.append((answer_id, 1000 + q_index, f"{1000 + q_index}:{names[g]}", sentiment))
    answers = pd.DataFrame(rows, columns=["answer_id", "question_id", "question", "answer"])
    truth_df = pd.DataFrame(truth, columns=["answer_id", "question_id", "group", "sentiment"])
    return answers, truth_df


def _sentiment_corpus(rng, config: DemoPlatformConfig) -> pd.DataFrame:
    labels = rng.choice(list(SENTIMENT_SHARES), config.n_sentiment_texts, p=list(SENTIMENT_SHARES.values()))
    texts = []
    for label in labels:
        text = _pick(rng, lex.SENTIMENT_PHRASES[label])
        if rng.random() < 0.5:
            text = f"{text} {_pick(rng, lex.SENTIMENT_CONTEXT)}"
        texts.append(_noisy(rng, text, label))
    split = rng.choice(["train", "test"], len(labels), p=[0.8, 0.2])
    if config.sentiment_mixed_share or config.sentiment_label_noise:
        texts, labels = _noisy_sentiment(_noise_rng(config, "sentiment"), texts, labels, config)
    return pd.DataFrame({"id": np.arange(1, len(labels) + 1), "text": texts, "label": labels, "split": split})


def _noisy_sentiment(rng, texts: list[str], labels: np.ndarray, config: DemoPlatformConfig
                     ) -> tuple[list[str], np.ndarray]:
    """Mixed texts ("очень понравилось, но доставка ужасная": the part after "но" decides), then
    annotator disagreement (a share of labels replaced by another class)."""
    labels = labels.copy()
    for i in np.flatnonzero(rng.random(len(texts)) < config.sentiment_mixed_share):
        first = _pick(rng, [s for s in SENTIMENT_SHARES if s != labels[i]])
        texts[i] = f"{_pick(rng, lex.SENTIMENT_PHRASES[first])}, но {texts[i]}"
    flipped = np.flatnonzero(rng.random(len(texts)) < config.sentiment_label_noise)
    labels[flipped] = [_pick(rng, [s for s in SENTIMENT_SHARES if s != labels[i]]) for i in flipped]
    return texts, labels


def _videos(rng, config: DemoPlatformConfig) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": np.arange(1, config.n_videos + 1),
            "category": rng.choice(lex.VIDEO_CATEGORIES, config.n_videos),
            "duration_s": rng.gamma(2.0, 300, config.n_videos).astype(int) + 30,
        }
    )


def _video_views(rng, config, users: pd.DataFrame, videos: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Age and sex shift which categories a user watches and at what hour (seed 002's signal)."""
    n = config.n_video_views
    age = users["age"].to_numpy()
    male = users["gender"].to_numpy() == 1
    u = rng.choice(len(users), n, p=_normalised(rng.lognormal(0, 0.8, len(users))))
    cats = np.array(lex.VIDEO_CATEGORIES)
    logits = np.zeros((len(users), len(cats)))
    logits[:, 0] += 2.0 * (age < 18)  # cartoons
    logits[:, 1] += 1.5 * (age < 25) + 1.0 * male  # games
    logits[:, 2] += 1.0 * (age < 35)  # music
    logits[:, 3] += 1.5 * male  # sport
    logits[:, 4] += 0.05 * (age - 35)  # news
    logits[:, 5] += 1.2 * (~male) + 0.02 * (age - 30)  # cooking
    logits[:, 6] += 1.4 * male * (age > 25)  # cars
    logits[:, 7] += 1.0 * (~male)  # series
    logits[:, 8] += 0.5 * (age > 25)  # science
    logits[:, 9] += 1.6 * (~male) * (age < 40)  # fashion
    # Young users watch late, older ones in the morning.
    peak_by_user = np.where(age < 25, 23, np.where(age < 45, 20, 9))
    if config.audience_signal < 1:  # personal taste and habits weigh against age and sex
        noise = _noise_rng(config, "audience")
        taste = noise.normal(0, 1.5, logits.shape)
        logits = config.audience_signal * logits + (1 - config.audience_signal) * taste
        habit = noise.random(len(users)) >= config.audience_signal
        peak_by_user = np.where(habit, noise.choice(24, len(users), p=_hour_profile()), peak_by_user)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    cum = probs.cumsum(axis=1)[u]
    category = (cum < rng.random((n, 1))).sum(axis=1).clip(max=len(cats) - 1)
    by_category = {c: videos.index[videos["category"] == name].to_numpy() for c, name in enumerate(cats)}
    video_idx = np.empty(n, dtype=int)
    for c, idx in by_category.items():
        mask = category == c
        pool = idx if len(idx) else videos.index.to_numpy()
        video_idx[mask] = rng.choice(pool, int(mask.sum()))
    hour = (peak_by_user[u] + rng.normal(0, 2.5, n).round().astype(int)) % 24
    day = rng.integers(0, config.days, n)
    ts = start + pd.to_timedelta(day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, n), unit="s")
    return pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[u],
            "video_id": videos["video_id"].to_numpy()[video_idx],
            "watched_at": ts,
            "watch_seconds": (videos["duration_s"].to_numpy()[video_idx] * rng.beta(2, 2, n)).astype(int),
        }
    ).sort_values("watched_at", kind="stable", ignore_index=True)


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / x.sum()


def _clients_and_products(rng, config, regions: pd.DataFrame, start: pd.Timestamp):
    """Clients take products up one by one; the next product depends on features and holdings."""
    n, products = config.n_clients, lex.PRODUCTS
    age = np.clip(rng.normal(40, 13, n), 18, 85).astype(int)
    income = np.round(rng.lognormal(11.0, 0.5, n), -2)
    tenure = rng.integers(1, 240, n)
    segment = np.where(income > 120_000, "premium", np.where(age < 25, "student", "mass"))
    clients = pd.DataFrame(
        {
            "client_id": np.arange(1, n + 1) + 500_000,
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "income": income,
            "segment": segment,
            "region": rng.choice(regions["region"], n),
            "tenure_months": tenure,
            "is_active": rng.random(n) < 0.7,
        }
    )
    # Product chain: holding one product raises the odds of its natural successors.
    idx = {p: i for i, p in enumerate(products)}
    follow = np.zeros((len(products), len(products)))
    for a, b, w in [
        ("current_account", "debit_card", 2.0), ("debit_card", "credit_card", 1.5),
        ("payroll", "credit_card", 1.5), ("payroll", "consumer_loan", 1.2), ("savings", "deposit", 1.8),
        ("deposit", "investment", 1.6), ("credit_card", "consumer_loan", 1.0), ("mortgage", "insurance", 2.2),
        ("car_loan", "insurance", 1.5), ("investment", "pension", 1.0),
    ]:
        follow[idx[a], idx[b]] = w
    base = np.array([0, 1.0, 0.3, -0.5, -0.3, -0.8, -0.8, -1.5, -2.0, -1.8, -1.5, -1.0])
    feature_effect = np.zeros((n, len(products)))
    z_income = (np.log(income) - 11.0) / 0.5
    feature_effect[:, idx["investment"]] += 1.5 * z_income
    feature_effect[:, idx["deposit"]] += 0.8 * z_income + 0.02 * (age - 40)
    feature_effect[:, idx["pension"]] += 0.06 * (age - 45)
    feature_effect[:, idx["mortgage"]] += 0.8 * ((age > 27) & (age < 45)) + 0.5 * z_income
    feature_effect[:, idx["car_loan"]] += 0.5 * ((age > 25) & (age < 55))
    feature_effect[:, idx["payroll"]] += 1.0 * (age < 60)
    feature_effect[:, idx["consumer_loan"]] -= 0.5 * z_income
    n_steps = np.clip(1 + rng.poisson(1 + tenure / 60), 1, 7)
    rows = []
    held = np.zeros((n, len(products)), dtype=bool)
    held[:, 0] = True
    opened = start - pd.to_timedelta(tenure * 30, unit="D")
    for step in range(1, n_steps.max()):
        active = n_steps > step
        logits = base + feature_effect + held.astype(float) @ follow
        logits[held] = -np.inf
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        pick = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(max=len(products) - 1)
        pick = np.where(held[np.arange(n), pick], probs.argmax(axis=1), pick)
        held[np.arange(n)[active], pick[active]] = True
        when = opened + pd.to_timedelta((tenure * 30) * step / n_steps, unit="D")
        rows.append(pd.DataFrame({"client_id": clients["client_id"][active], "product": np.array(products)[pick[active]],
                                  "opened_at": when[active].floor("D")}))
    first = pd.DataFrame({"client_id": clients["client_id"], "product": products[0], "opened_at": opened.floor("D")})
    holdings = pd.concat([first, *rows], ignore_index=True).sort_values(["client_id", "opened_at"], kind="stable")
    return clients, holdings.reset_index(drop=True)


def _add_dirt(rng, config: DemoPlatformConfig, tables: dict[str, pd.DataFrame]) -> None:
    """Mix in the kinds of bad rows real platforms have, so quarantine is always exercised."""
    feed = tables["feed_data"]
    n_bad = max(1, int(len(feed) * config.dirty_share))
    duplicates = feed.sample(n_bad, random_state=config.seed)
    orphans = feed.sample(n_bad, random_state=config.seed + 1).assign(user_id=-1)
    tables["feed_data"] = pd.concat([feed, duplicates, orphans], ignore_index=True)
    users = tables["user_data"]
    bad_age = users.sample(max(1, int(len(users) * config.dirty_share)), random_state=config.seed).assign(age=-5)
    bad_age["user_id"] = users["user_id"].max() + np.arange(1, len(bad_age) + 1)
    tables["user_data"] = pd.concat([users, bad_age], ignore_index=True)
    answers = tables["survey_answers"]
    empty = answers.sample(max(1, int(len(answers) * config.dirty_share)), random_state=config.seed).assign(answer="  ")
    empty["answer_id"] = answers["answer_id"].max() + np.arange(1, len(empty) + 1)
    tables["survey_answers"] = pd.concat([answers, empty], ignore_index=True)
