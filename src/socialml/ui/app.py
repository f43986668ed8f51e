"""SocialML's pages: answer clusters, the topic classifier, a user (who, history, feed, audience), a client's offers.

    .venv/bin/streamlit run src/socialml/ui/app.py   (SOCIALML_PROJECT, SOCIALML_ENV: another project or env)

It loads the same registered models as the service (``models:/<name>@<alias>``), in-process,
through socialml.serving.models.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import pandas as pd
import plotly.express as px
import streamlit as st

from socialml.components.audience.models import age_buckets
from socialml.components.evaluation.charts import CLUSTER_COLOURS, OUTLIER_COLOUR, cluster_sizes_figure
from socialml.components.text.clustering import OUTLIER
from socialml.components.text.sentiment import SENTIMENT_COLOURS
from socialml.pipelines.sources import primary_table
from socialml.serving.models import ServingModels, load_serving_models, project_context
from socialml.serving.schemas import blank, parse_id

# Each page and the families it shows; a page whose families the environment does not serve is not offered.
PAGES = {"Answer clusters": ("clusters",), "Topic classifier": ("topics",), "User": ("feed", "audience"),
         "Client": ("cross_sell",)}


def project_and_env() -> tuple[str, str | None]:
    """The project folder and Kedro environment the app shows (SOCIALML_PROJECT, SOCIALML_ENV)."""
    return os.environ.get("SOCIALML_PROJECT", "."), os.environ.get("SOCIALML_ENV") or None


@st.cache_resource(show_spinner="Loading the trained models…")
def models() -> ServingModels:
    return load_serving_models(*project_and_env())


def natural_order(label: str) -> tuple[float, str]:
    """Age buckets by their first number ("<18" before "18-24" before "56+"), other labels by name."""
    number = re.search(r"\d+", str(label))
    return (float(number.group()) - (0.5 if str(label).startswith("<") else 0) if number else float("inf"), str(label))


# What a question asks for, and how its answers' sentiment is read for it (QuestionFrame).
ASKS_FOR = {
    "positive": "Asks for the good: an answer without a sentiment of its own counts as praise, «ничего» as a complaint",
    "negative": "Asks for the bad: an answer without a sentiment of its own counts as a complaint, «ничего» as praise",
    "neutral": "Asks for neither the good nor the bad: each answer keeps its own sentiment",
}


def clusters_page(current: ServingModels) -> None:
    st.header("Answer clusters")
    family = current.family("clusters")
    questions = family.clusters.drop_duplicates("question_id").set_index("question_id")["question_text"]
    question = st.selectbox("Question", questions.index, format_func=lambda q: f"{q}: {questions[q]}")
    asks_for = family.clusterer.questions[question].get("asks_for")  # absent from clusterers saved before
    if asks_for:
        asked = max(asks_for, key=asks_for.get)
        st.caption(f"{ASKS_FOR[asked]} (read from the question's text, {asks_for[asked]:.0%} sure).")
    clusters = family.clusters[family.clusters["question_id"] == question].copy()
    answers = family.answer_clusters[family.answer_clusters["question_id"] == question].copy()
    answers["cluster_name"] = answers["cluster_label"].fillna("outliers")
    left, right = st.columns(2)
    answer_map = px.scatter(answers, x="x", y="y", color="cluster_name", hover_data=["answer_text", "sentiment"],
                            color_discrete_sequence=CLUSTER_COLOURS, color_discrete_map={"outliers": OUTLIER_COLOUR},
                            title="Answers by meaning (2-d map)")
    # The legend goes below the map, so the map keeps its width, and the figure grows with it, so it keeps its height.
    answer_map.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.15},
                             height=420 + 22 * answers["cluster_name"].nunique())
    left.plotly_chart(answer_map, key="map")
    # The question is in the selector above.
    # Shorter labels and the legend below leave the half-width column's room to the bars (full labels on hover).
    sizes = cluster_sizes_figure(clusters, [question], SENTIMENT_COLOURS, OUTLIER, label_chars=32,
                                 question_titles=False)
    sizes.update_layout(title="Cluster sizes", legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0,
                                                       "title": {"side": "top left"}})
    right.plotly_chart(sizes, key="sizes")
    table = clusters[["cluster", "label", "size", "share", "dominant_sentiment", "sentiment_positive",
                      "sentiment_negative", "keywords", "representative_answers"]].copy()
    for column in ("keywords", "representative_answers"):
        table[column] = table[column].map(lambda values: " · ".join(map(str, values)))
    st.dataframe(table, hide_index=True)


# What the topic page classifies before anyone types, so that it opens on a result, not an empty form.
EXAMPLE_POST = "Наша сборная выиграла финал чемпионата, болельщики празднуют всю ночь"


def _classified(topics, thresholds: dict[str, float], doc_text: str, image2text: str, speech2text: str) -> dict:
    """One request's record: its fields, the topics above their thresholds and every topic's probability."""
    probabilities = topics.probabilities(doc_text, image2text, speech2text)
    return {"time": datetime.now().isoformat(timespec="seconds"), "text": doc_text, "image2text": image2text,
            "speech2text": speech2text, "predicted": [t for t, p in probabilities.items() if p >= thresholds[t]],
            **{f"p_{t}": round(float(p), 4) for t, p in probabilities.items()}}


def topics_page(current: ServingModels) -> None:
    st.header("Topic classifier")
    topics = current.family("topics")
    thresholds = topics.thresholds()
    history = st.session_state.setdefault("topic_history", [])
    with st.form("topic_form"):
        doc_text = st.text_area("Post text", value=EXAMPLE_POST, key="doc_text")
        image2text = st.text_input("Image caption (optional)", key="image2text")
        speech2text = st.text_input("Speech transcript (optional)", key="speech2text")
        submitted = st.form_submit_button("Classify")
    if submitted:
        if all(map(blank, (doc_text, image2text, speech2text))):
            st.error("Enter some text in at least one field.")
        else:
            history.append(_classified(topics, thresholds, doc_text, image2text, speech2text))
    if not history:
        st.caption("The example post above, classified; edit it (or the other fields) and press Classify.")
    last = history[-1] if history else _classified(topics, thresholds, EXAMPLE_POST, "", "")
    chart = pd.DataFrame({"topic": [k[2:] for k in last if k.startswith("p_")],
                          "probability": [v for k, v in last.items() if k.startswith("p_")]})
    chart["threshold"] = chart["topic"].map(thresholds)
    chart["predicted"] = chart["probability"] >= chart["threshold"]
    figure = px.bar(chart, x="probability", y="topic", orientation="h", range_x=[0, 1], color="predicted",
                    color_discrete_map={True: "#1f77b4", False: "#c7c7c7"},
                    title="Topic probabilities (ticks: each topic's threshold)")
    figure.add_scatter(x=chart["threshold"], y=chart["topic"], mode="markers", name="threshold",
                       marker={"symbol": "line-ns-open", "size": 18, "color": "black", "line": {"width": 2}})
    st.plotly_chart(figure, key="probabilities")
    st.write("Predicted topics: " + (", ".join(last["predicted"]) or "none above its threshold"))
    if history:
        frame = pd.DataFrame(history)
        st.subheader("Request history")
        st.dataframe(frame, hide_index=True)
        st.download_button("Download CSV", frame.to_csv(index=False), "topic_requests.csv", "text/csv")
        st.download_button("Download JSON", json.dumps(history, ensure_ascii=False, indent=1), "topic_requests.json",
                           "application/json")


@dataclass
class UserTables:
    """What the user page shows beside the models: who a user is and what they did."""
    users: pd.DataFrame  # the feed source's users, with their true attributes
    feed_events: pd.DataFrame  # the feed source's views and likes
    audience_users: pd.DataFrame  # the audience source's users (true sex and age)
    age_buckets: Callable[[pd.Series], pd.Series]


@st.cache_resource(show_spinner="Loading the platform's tables…")
def user_tables() -> UserTables:
    with project_context(*project_and_env()) as context:
        params, load = context.params, context.catalog.load
        feed_source, audience = params["post_feed"]["ab_test"]["source"], params["serving"]["audience"]["source"]
        edges, labels = params["audience"]["age_edges"], params["audience"]["age_labels"]
        return UserTables(load(f"{feed_source}.prm_users"), load(f"{feed_source}.{primary_table('feed_events')}"),
                          load(f"{audience}.prm_users"), lambda age: age_buckets(age, edges, labels))


@st.cache_resource(show_spinner="Loading the clients' tables…")
def client_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cross-sell source's clients and their holdings."""
    with project_context(*project_and_env()) as context:
        source = context.params["serving"]["cross_sell"]["source"]
        return context.catalog.load(f"{source}.prm_clients"), context.catalog.load(f"{source}.prm_holdings")


def typed_input(label: str, default: str, key: str, integer_ids: bool, what: str) -> int | str | None:
    """An id typed like the source's ids; a wrong one is shown as an error (None)."""
    try:
        return parse_id(st.text_input(label, value=default, key=key), integer_ids, what)
    except ValueError as error:
        st.error(str(error))
        return None


def who_they_are(profile: pd.DataFrame, unknown: str) -> None:
    """The profile's known attributes, or ``unknown`` when the id is not in its table."""
    st.subheader("Who they are")
    if profile.empty:
        st.info(unknown)
    else:
        st.dataframe(profile.dropna(axis=1), hide_index=True)


def user_page(current: ServingModels) -> None:
    st.header("A user")
    feed, audience = current.family("feed"), current.family("audience")
    tables = user_tables()
    user_id = typed_input("User id", str(tables.feed_events["user_id"].iloc[-1]), "user_id", feed.integer_ids, "feed")
    if user_id is None:
        return
    who_they_are(tables.users[tables.users["user_id"] == user_id], "Not in the platform's users table: a new user.")

    events = tables.feed_events[tables.feed_events["user_id"] == user_id]
    # Naive UTC, as the service takes "now" for a feed request.
    answer = feed.recommend_posts(user_id, pd.Timestamp.now(tz="UTC").tz_localize(None), 5)
    st.subheader(f"Feed: group {answer.group}, model {answer.model}")
    if answer.cold_start:
        st.warning("Cold start: the model has no event of this user, so these posts are ranked by the posts' "
                   "own features and popularity, not by the user's history.")
    posts = pd.DataFrame(answer.posts)
    # The feed never repeats a liked post (post_feed's `exclude`), but may show one the user only viewed.
    posts["seen before"] = posts["id"].isin(events["post_id"])
    st.dataframe(posts, hide_index=True)

    counts = events["action"].value_counts()
    st.subheader("What they did: " + (", ".join(f"{n} {action}s" for action, n in counts.items()) or "nothing yet"))
    if len(events):
        latest = events.nlargest(10, "timestamp")
        cards = pd.DataFrame([feed.post_cards[post] for post in latest["post_id"].unique() if post in feed.post_cards],
                             columns=["id", "topic", "text"])
        latest = latest.merge(cards, left_on="post_id", right_on="id", how="left")
        st.dataframe(latest[["timestamp", "action", "post_id", "topic", "text"]], hide_index=True)

    views = audience.views[audience.views["user_id"] == user_id]
    # The audience models read another log than the feed's (the demo's video views), so its count differs from above.
    st.subheader(f"Audience predicted from {len(views)} views in the audience data")
    if views.empty:
        st.info("This user has no viewing history in the audience data.")
        return
    truth = tables.audience_users[tables.audience_users["user_id"] == user_id]
    true_values = {"sex": truth["gender"], "age": tables.age_buckets(truth["age"])} if len(truth) else {}
    for target, values in audience.probabilities(views).items():
        classes = sorted(values, key=natural_order)
        known = true_values.get(target, pd.Series(dtype=object)).dropna()
        true_class = str(known.iloc[0]) if len(known) else None
        chart = pd.DataFrame({target: classes, "probability": [values[c] for c in classes],
                              "true value": [c == true_class for c in classes]})
        st.plotly_chart(px.bar(chart, x=target, y="probability", color="true value",
                               color_discrete_map={True: "#2ca02c", False: "#9ecae1"},
                               category_orders={target: classes},
                               title=f"{target}: predicted probabilities (true: {true_class or 'unknown'})"),
                        key=f"audience_{target}")


def client_page(current: ServingModels) -> None:
    st.header("A bank client")
    cross_sell = current.family("cross_sell")
    clients, holdings = client_tables()
    client_id = typed_input("Client id", str(cross_sell.model.data.user_ids[0]), "client_id", cross_sell.integer_ids,
                            "cross_sell")
    if client_id is None:
        return
    who_they_are(clients[clients["client_id"] == client_id], "Not in the clients table: a new client.")
    held = holdings[holdings["client_id"] == client_id]
    st.subheader(f"Products held: {len(held)}")
    if len(held):
        st.dataframe(held.drop(columns="client_id"), hide_index=True)
    known, products = cross_sell.recommend(client_id, 5)
    st.subheader("Products to offer" + ("" if known else " (unknown client: the most held products)"))
    st.dataframe(pd.DataFrame(products), hide_index=True)


def main() -> None:
    st.set_page_config(page_title="SocialML", layout="wide")
    current = models()
    pages = [page for page, families in PAGES.items() if set(families) <= set(current.families)]
    if not pages:
        st.error(f"No page shows what this environment serves ({', '.join(current.families)}); the pages need "
                 + "; ".join(f"{page}: {' and '.join(families)}" for page, families in PAGES.items()))
        return
    page = st.sidebar.radio("Page", pages, key="page")
    st.sidebar.caption("Models in use:  \n" + "  \n".join(f"{m.name}@{m.alias}: version {m.version} ({m.origin})"
                                                         for m in current.served))
    {"Answer clusters": clusters_page, "Topic classifier": topics_page, "User": user_page,
     "Client": client_page}[page](current)


main()
