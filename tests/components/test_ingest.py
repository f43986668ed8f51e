import json

import pandas as pd
import pytest
from kedro_datasets.pandas import CSVDataset

from socialml.components.ingest import MissingColumnsError, adapt, validate

USERS_SPEC = {"raw": "user_data", "columns": {"user_id": "uid", "gender": "sex", "age": "age", "country": "country"},
              "values": {"gender": {0: "female", 1: "male"}}}
POSTS_SPEC = {"raw": "posts", "columns": {"post_id": "id", "doc_text": "text"}, "labels": {"column": "topic"}}
FEED_SPEC = {"raw": "feed", "columns": {"timestamp": "ts", "user_id": "uid", "post_id": "pid", "action": "action"}}

BAD_USERS_CSV = (
    "uid,sex,age,country\n"
    "1,0,25,Russia\n"
    "2,1,abc,Russia\n"  # wrong type
    "2,1,30,Finland\n"  # same id as the rejected row above: this valid one is kept
    "x,1,30,Russia\n"  # id is not a number
    "4,1,30,R\xffssia\n"  # a byte that is not UTF-8
    "5,7,200,Russia\n"  # unknown gender code, impossible age
    "5,0,33,Russia\n"  # duplicate id
    ",0,33,Russia\n"  # missing id
)


def _read_bad_csv(tmp_path) -> pd.DataFrame:
    path = tmp_path / "users.csv"
    path.write_bytes(BAD_USERS_CSV.encode("latin-1"))
    # The same load_args as every raw CSV of conf/real.
    return CSVDataset(filepath=str(path), load_args={"encoding_errors": "replace"}).load()


def test_bad_rows_are_rejected_with_reasons_and_nothing_is_lost(tmp_path):
    raw = _read_bad_csv(tmp_path)
    adapted = adapt("users", USERS_SPEC, {"user_data": raw})
    accepted, rejected = validate("users", adapted)
    assert len(accepted) + len(rejected) == len(raw) == 8
    assert sorted(accepted["user_id"]) == [1, 2, 5]
    reasons = dict(zip(rejected["row"], rejected["reason"]))
    assert "age: wrong type" in reasons[1]
    assert "user_id: wrong type" in reasons[3]
    assert "not UTF-8" in reasons[4]
    assert "gender" in reasons[5] and "age" in reasons[5]
    assert "user_id: missing value" in reasons[7]
    # The record keeps the raw values, so the row can be fixed at its source.
    assert json.loads(rejected.set_index("row").at[3, "record"])["user_id"] == "x"


def test_duplicate_keys_keep_the_first_and_reject_the_rest():
    raw = pd.DataFrame({"uid": [1, 1, 2], "sex": [0, 1, 1], "age": [20, 30, 40], "country": ["a", "b", "c"]})
    accepted, rejected = validate("users", adapt("users", USERS_SPEC, {"user_data": raw}))
    assert accepted["country"].tolist() == ["a", "c"]
    assert rejected["reason"].str.contains("duplicate").tolist() == [True]


def test_missing_required_column_stops_with_a_clear_message():
    raw = pd.DataFrame({"uid": [1], "sex": [0], "country": ["a"]})
    with pytest.raises(MissingColumnsError, match=r"lacks required column\(s\) \['age'\].*it has"):
        adapt("users", USERS_SPEC, {"user_data": raw})


def test_missing_raw_frame_is_named():
    with pytest.raises(KeyError, match="user_data"):
        adapt("users", USERS_SPEC, {"other": pd.DataFrame()})


def test_ids_that_refer_to_nothing_are_rejected():
    users = pd.DataFrame({"user_id": [1, 2]})
    posts = pd.DataFrame({"post_id": [10]})
    feed = pd.DataFrame({"ts": ["2024-01-01 10:00"] * 3, "uid": [1, 3, 2], "pid": [10, 10, 11], "action": "view"})
    accepted, rejected = validate("feed_events", adapt("feed_events", FEED_SPEC, {"feed": feed}),
                                  {"users": users, "posts": posts})
    assert accepted["user_id"].tolist() == [1]
    assert rejected["reason"].tolist() == ["user_id 3 is not in users", "post_id 11 is not in posts"]


def test_empty_texts_are_rejected_where_text_is_required():
    raw = pd.DataFrame({"q": [1, 1, 1], "qt": ["Как дела?"] * 3, "a": ["хорошо", "   ", None]})
    spec = {"raw": "answers", "columns": {"question_id": "q", "question_text": "qt", "answer_text": "a"},
            "constants": {"count": 1}, "generate_id": "answer_id"}
    accepted, rejected = validate("answers", adapt("answers", spec, {"answers": raw}))
    assert accepted["answer_text"].tolist() == ["хорошо"]
    assert len(rejected) == 2 and rejected["reason"].str.contains("answer_text").all()


def test_wrong_action_values_are_rejected():
    feed = pd.DataFrame({"ts": ["2024-01-01", "not a date"], "uid": [1, 1], "pid": [1, 1], "action": ["click", "view"]})
    accepted, rejected = validate("feed_events", adapt("feed_events", FEED_SPEC, {"feed": feed}))
    assert accepted.empty
    assert "action" in rejected["reason"].iloc[0] and "timestamp: wrong type" in rejected["reason"].iloc[1]


def test_single_label_column_becomes_a_list():
    raw = pd.DataFrame({"id": [1, 2], "text": ["a", "b"], "topic": ["sport", None]})
    accepted, _ = validate("posts", adapt("posts", POSTS_SPEC, {"posts": raw}))
    assert [list(t) for t in accepted["topics"]] == [["sport"], []]
    assert accepted["image2text"].isna().all()


def test_multi_hot_columns_become_label_lists_with_threshold():
    raw = pd.DataFrame({"text": ["a", "b"], "drugs": [0.8, 0.2], "politics": [0.6, 0.0]})
    spec = {"raw": "v1", "columns": {"doc_text": "text"}, "labels": {"columns": "*", "threshold": 0.5},
            "generate_id": "post_id"}
    accepted, _ = validate("posts", adapt("posts", spec, {"v1": raw}))
    assert [list(t) for t in accepted["topics"]] == [["drugs", "politics"], []]


def test_leak_guard_rejects_training_texts_seen_in_evaluation_splits():
    spec = {"raw": {"train_file": "train", "test_file": "test"}, "columns": {"doc_text": "text"},
            "labels": {"columns": ["x"]}, "generate_id": "post_id", "leak_guard": {"column": "doc_text", "split": "train"}}
    raw = {"train_file": pd.DataFrame({"text": ["a", "b"], "x": [1, 0]}), "test_file": pd.DataFrame({"text": ["b"], "x": [0]})}
    accepted, rejected = validate("posts", adapt("posts", spec, raw), leak_guard=spec["leak_guard"])
    assert accepted[["doc_text", "split"]].values.tolist() == [["a", "train"], ["b", "test"]]
    assert rejected["reason"].str.contains("leak").all() and rejected["raw"].tolist() == ["train_file"]


def test_wide_product_flags_melt_into_holdings():
    raw = pd.DataFrame({"id": [7, 8], "date": ["2015-01-28"] * 2, "ind_a_ult1": [1, 0], "ind_b_ult1": [1, None]})
    spec = {"raw": "wide", "columns": {"client_id": "id", "since": "date"},
            "melt": {"columns": "ind_*_ult1", "id": "client_id", "strip": "^ind_|_ult1$"}}
    accepted, rejected = validate("holdings", adapt("holdings", spec, {"wide": raw}))
    assert accepted[["client_id", "product_id"]].values.tolist() == [[7, "a"], [7, "b"]]
    assert rejected.empty


def test_ratings_become_views_and_high_ratings_also_likes():
    raw = pd.DataFrame({"u": [1, 1], "i": [5, 6], "r": [5, 2], "t": [881250949, 881250950]})
    spec = {"raw": "ratings", "columns": {"timestamp": "t", "user_id": "u", "post_id": "i"},
            "likes_from": {"column": "r", "min": 4}}
    accepted, _ = validate("feed_events", adapt("feed_events", spec, {"ratings": raw}))
    assert sorted(map(tuple, accepted[["post_id", "action"]].values.tolist())) == [(5, "like"), (5, "view"), (6, "view")]
    assert accepted["timestamp"].min() == pd.Timestamp("1997-12-04 15:55:49")


def test_ids_known_only_from_another_frame_are_added_as_empty_posts():
    raw = {"posts": pd.DataFrame({"id": [1], "text": ["t"], "topic": ["x"]}), "ids": pd.DataFrame({"post_id": [1, 2, 3]})}
    spec = {**POSTS_SPEC, "add_ids_from": {"raw": "ids", "column": "post_id"}}
    accepted, rejected = validate("posts", adapt("posts", spec, raw))
    assert accepted["post_id"].tolist() == [1, 2, 3] and rejected.empty
    assert [list(t) for t in accepted["topics"]] == [["x"], [], []]
