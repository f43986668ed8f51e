"""SocialML's pages: answer clusters, the topic classifier, and a user's feed, audience and offers.

    .venv/bin/streamlit run src/socialml/ui/app.py   (SOCIALML_PROJECT, SOCIALML_ENV: another project or env)

It loads the same registered models as the service (``models:/<name>@<alias>``), in-process,
through socialml.serving.models.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from socialml.components.text.sentiment import SENTIMENT_COLOURS
from socialml.serving.models import ServingModels, load_serving_models
from socialml.serving.schemas import parse_id

PAGES = ("Answer clusters", "Topic classifier", "User")


@st.cache_resource(show_spinner="Loading the trained models…")
def models() -> ServingModels:
    return load_serving_models(os.environ.get("SOCIALML_PROJECT", "."), os.environ.get("SOCIALML_ENV") or None)


def natural_order(label: str) -> tuple[float, str]:
    """Age buckets by their first number ("<18" before "18-24" before "56+"), other labels by name."""
    number = re.search(r"\d+", str(label))
    return (float(number.group()) - (0.5 if str(label).startswith("<") else 0) if number else float("inf"), str(label))


def clusters_page(current: ServingModels) -> None:
    st.header("Answer clusters")
    family = current.family("clusters")
    questions = family.clusters.drop_duplicates("question_id").set_index("question_id")["question_text"]
    question = st.selectbox("Question", questions.index, format_func=lambda q: f"{q}: {questions[q]}")
    clusters = family.clusters[family.clusters["question_id"] == question].copy()
    answers = family.answer_clusters[family.answer_clusters["question_id"] == question].copy()
    answers["cluster_name"] = answers["cluster_label"].fillna("outliers")
    left, right = st.columns(2)
    answer_map = px.scatter(answers, x="x", y="y", color="cluster_name", hover_data=["answer_text", "sentiment"],
                            title="Answers by meaning (2-d map)")
    answer_map.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.15})  # the map keeps its width
    left.plotly_chart(answer_map, key="map")
    right.plotly_chart(px.bar(clusters.sort_values("size"), x="size", y="label", orientation="h",
                              color="dominant_sentiment", color_discrete_map=SENTIMENT_COLOURS,
                              title="Cluster sizes"), key="sizes")
    table = clusters[["cluster", "label", "size", "share", "dominant_sentiment", "sentiment_positive",
                      "sentiment_negative", "keywords", "representative_answers"]].copy()
    for column in ("keywords", "representative_answers"):
        table[column] = table[column].map(lambda values: " · ".join(map(str, values)))
    st.dataframe(table, hide_index=True)


def topics_page(current: ServingModels) -> None:
    st.header("Topic classifier")
    history = st.session_state.setdefault("topic_history", [])
    with st.form("topic_form"):
        doc_text = st.text_area("Post text", key="doc_text")
        image2text = st.text_input("Image caption (optional)", key="image2text")
        speech2text = st.text_input("Speech transcript (optional)", key="speech2text")
        submitted = st.form_submit_button("Classify")
    if submitted:
        if not any(t.strip() for t in (doc_text, image2text, speech2text)):
            st.error("Enter some text in at least one field.")
        else:
            topics = current.family("topics")
            probabilities = topics.probabilities(doc_text, image2text, speech2text)
            thresholds = topics.thresholds()
            history.append({"time": datetime.now().isoformat(timespec="seconds"), "text": doc_text,
                            "image2text": image2text, "speech2text": speech2text,
                            "predicted": [t for t, p in probabilities.items() if p >= thresholds[t]],
                            **{f"p_{t}": round(float(p), 4) for t, p in probabilities.items()}})
    if history:
        last = history[-1]
        thresholds = current.family("topics").thresholds()
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
        frame = pd.DataFrame(history)
        st.subheader("Request history")
        st.dataframe(frame, hide_index=True)
        st.download_button("Download CSV", frame.to_csv(index=False), "topic_requests.csv", "text/csv")
        st.download_button("Download JSON", json.dumps(history, ensure_ascii=False, indent=1), "topic_requests.json",
                           "application/json")


def user_page(current: ServingModels) -> None:
    st.header("A user")
    feed, audience, cross_sell = (current.family(f) for f in ("feed", "audience", "cross_sell"))
    first_user = str(audience.views["user_id"].iloc[0]) if len(audience.views) else ""
    user_text = st.text_input("User id", value=first_user, key="user_id")
    try:
        user_id = parse_id(user_text, feed.integer_ids, "feed")
    except ValueError as error:
        st.error(str(error))
        return
    # Naive UTC, as the service takes "now" for a feed request.
    group, posts = feed.recommend_posts(user_id, pd.Timestamp.now(tz="UTC").tz_localize(None), 5)
    st.subheader(f"Feed: group {group}, model {feed.model_names[group]}")
    st.dataframe(pd.DataFrame(posts), hide_index=True)
    history = audience.views[audience.views["user_id"] == user_id]
    st.subheader(f"Audience from {len(history)} views")
    if history.empty:
        st.info("This user has no viewing history in the audience data.")
    else:
        probabilities = audience.probabilities(history)
        for target, values in probabilities.items():
            classes = sorted(values, key=natural_order)
            st.plotly_chart(px.bar(x=classes, y=[values[c] for c in classes], labels={"x": target, "y": "probability"},
                                   title=f"{target} probabilities"), key=f"audience_{target}")
    client_text = st.text_input("Client id (cross-sell)", value=str(cross_sell.model.data.user_ids[0]),
                                key="client_id")
    try:
        client_id = parse_id(client_text, cross_sell.integer_ids, "cross_sell")
    except ValueError as error:
        st.error(str(error))
        return
    known, products = cross_sell.recommend(client_id, 5)
    st.subheader("Products to offer" + ("" if known else " (unknown client: the most held products)"))
    st.dataframe(pd.DataFrame(products), hide_index=True)


def main() -> None:
    st.set_page_config(page_title="SocialML", layout="wide")
    page = st.sidebar.radio("Page", PAGES, key="page")
    current = models()
    st.sidebar.caption("Models in use:  \n" + "  \n".join(f"{m.name}@{m.alias}: version {m.version} ({m.origin})"
                                                         for m in current.served))
    {"Answer clusters": clusters_page, "Topic classifier": topics_page, "User": user_page}[page](current)


main()
