"""SocialML's pages: answer clusters, the topic classifier, and a user's feed, audience and offers.

    SOCIALML_PROJECT=. SOCIALML_ENV= streamlit run src/socialml/ui/app.py

It loads the same models as the service, in-process, through socialml.serving.models.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from socialml.serving.models import ServingModels, load_serving_models

PAGES = ("Answer clusters", "Topic classifier", "User")


@st.cache_resource(show_spinner="Loading the trained models…")
def models() -> ServingModels:
    return load_serving_models(os.environ.get("SOCIALML_PROJECT", "."), os.environ.get("SOCIALML_ENV") or None)


def clusters_page(current: ServingModels) -> None:
    st.header("Answer clusters")
    questions = current.clusters.drop_duplicates("question_id").set_index("question_id")["question_text"]
    question = st.selectbox("Question", questions.index, format_func=lambda q: f"{q}: {questions[q]}")
    clusters = current.clusters[current.clusters["question_id"] == question].copy()
    answers = current.answer_clusters[current.answer_clusters["question_id"] == question].copy()
    answers["cluster_name"] = answers["cluster_label"].fillna("outliers")
    left, right = st.columns(2)
    left.plotly_chart(px.scatter(answers, x="x", y="y", color="cluster_name", hover_data=["answer_text", "sentiment"],
                                 title="Answers by meaning (2-d map)"), key="map")
    right.plotly_chart(px.bar(clusters.sort_values("size"), x="size", y="label", orientation="h",
                              color="dominant_sentiment", title="Cluster sizes"), key="sizes")
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
            probabilities = current.topic_probabilities(doc_text, image2text, speech2text)
            thresholds = current.topic_thresholds()
            history.append({"time": datetime.now().isoformat(timespec="seconds"), "text": doc_text,
                            "image2text": image2text, "speech2text": speech2text,
                            "predicted": [t for t, p in probabilities.items() if p >= thresholds[t]],
                            **{f"p_{t}": round(float(p), 4) for t, p in probabilities.items()}})
    if history:
        last = history[-1]
        chart = pd.DataFrame({"topic": [k[2:] for k in last if k.startswith("p_")],
                              "probability": [v for k, v in last.items() if k.startswith("p_")]})
        st.plotly_chart(px.bar(chart, x="probability", y="topic", orientation="h", range_x=[0, 1],
                               title="Topic probabilities"), key="probabilities")
        st.write("Predicted topics: " + (", ".join(last["predicted"]) or "none above its threshold"))
        frame = pd.DataFrame(history)
        st.subheader("Request history")
        st.dataframe(frame, hide_index=True)
        st.download_button("Download CSV", frame.to_csv(index=False), "topic_requests.csv", "text/csv")
        st.download_button("Download JSON", json.dumps(history, ensure_ascii=False, indent=1), "topic_requests.json",
                           "application/json")


def user_page(current: ServingModels) -> None:
    st.header("A user")
    first_user = str(current.views["user_id"].iloc[0]) if len(current.views) else ""
    user_text = st.text_input("User id", value=first_user, key="user_id")
    try:
        user_id = current.parse_id("feed", user_text)
    except ValueError as error:
        st.error(str(error))
        return
    # Naive UTC, as the service takes "now" for a feed request.
    group, posts = current.recommend_posts(user_id, pd.Timestamp.now(tz="UTC").tz_localize(None), 5)
    st.subheader(f"Feed: group {group}, model {current.feed_model_names[group]}")
    st.dataframe(pd.DataFrame(posts), hide_index=True)
    history = current.views[current.views["user_id"] == user_id]
    st.subheader(f"Audience from {len(history)} views")
    if history.empty:
        st.info("This user has no viewing history in the audience data.")
    else:
        probabilities = current.audience(history)
        for target, values in probabilities.items():
            st.plotly_chart(px.bar(x=list(values), y=list(values.values()), labels={"x": target, "y": "probability"},
                                   title=f"{target} probabilities"), key=f"audience_{target}")
    client_text = st.text_input("Client id (cross-sell)", value=str(current.cross_sell_model.data.user_ids[0]),
                                key="client_id")
    try:
        client_id = current.parse_id("cross_sell", client_text)
    except ValueError as error:
        st.error(str(error))
        return
    known, products = current.cross_sell(client_id, 5)
    st.subheader("Products to offer" + ("" if known else " (unknown client: the most held products)"))
    st.dataframe(pd.DataFrame(products), hide_index=True)


def main() -> None:
    st.set_page_config(page_title="SocialML", layout="wide")
    page = st.sidebar.radio("Page", PAGES, key="page")
    current = models()
    st.sidebar.caption("Models in use:  \n" + "  \n".join(f"{name} ({version})"
                                                         for name, version in current.versions.items()))
    {"Answer clusters": clusters_page, "Topic classifier": topics_page, "User": user_page}[page](current)


main()
