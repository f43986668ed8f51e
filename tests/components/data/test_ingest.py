import json

import numpy as np
import pandas as pd
import pytest
from kedro_datasets.pandas import CSVDataset, ExcelDataset

from socialml.components.core.errors import SettingsError
from socialml.components.data.ingest import (
    Checks,
    EmptySourceError,
    IngestionStopped,
    MissingColumnsError,
    TimeReading,
    adapt,
    check_table_layout,
    enforce_checks,
    expand_partitions,
    sample_rows,
    validate,
)

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
    assert reasons[1] == "age: not a number (got 'abc')"
    assert reasons[3] == "user_id: not an integer id (got 'x')"
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
    assert rejected["reason"].tolist() == ["user_id: not in users (got 3)", "post_id: not in posts (got 11)"]


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
    assert rejected["reason"].tolist() == ["action: fails isin(('view', 'like')) (got 'click')",
                                           "timestamp: not a date or time (got 'not a date')"]


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


def test_an_odd_multi_hot_cell_rejects_its_row_and_a_column_of_ids_or_times_stops_naming_it():
    # As go_emotions ships: an id, the author and a Unix time beside the emotion columns.
    raw = pd.DataFrame({"id": ["eew5j0j", "ed2mah1", "eeibobj"], "text": ["a", "b", "c"], "author": ["x", "y", "z"],
                        "created_utc": [1548381039, 1548381040, 1548381041], "joy": [1, "да", 0], "anger": [0, 0, 7]})
    spec = {"raw": "go", "columns": {"doc_text": "text"}, "keep": ["id", "author"], "generate_id": "post_id",
            "labels": {"columns": "*"}}
    with pytest.raises(MissingColumnsError, match="labels columns '\\*' took 'created_utc', whose values are not label "
                                                  "scores from 0 to 1 \\(e.g. 1548381039\\)"):
        adapt("posts", spec, {"go": raw})
    # Kept columns are not labels; one odd cell rejects its row, naming the column and the value.
    accepted, rejected = validate("posts", adapt("posts", {**spec, "keep": ["id", "author", "created_utc"]}, {"go": raw}))
    assert [list(t) for t in accepted["topics"]] == [["joy"]] and "_label_problem" not in accepted
    assert rejected["reason"].tolist() == ["joy: not a label score from 0 to 1 (got 'да')",
                                           "anger: not a label score from 0 to 1 (got 7)"]


def test_label_lists_come_from_parquet_lists_and_lists_written_as_text_with_names():
    # Emotions as Hugging Face data sets hold them: a list of class ids per text, in Parquet a list
    # column and in a CSV export "[0, 3]"; a text with no emotion has an empty list.
    spec = {"raw": "emotions", "columns": {"doc_text": "text"}, "generate_id": "post_id",
            "labels": {"column": "labels", "names": {0: "joy", 1: "sadness", 3: "anger"}}}
    parquet = pd.DataFrame({"text": ["a", "b", "c"], "labels": [np.array([0, 3]), np.array([], dtype=int), [1]]})
    written = pd.DataFrame({"text": ["a", "b", "c", "d", "e"],
                            "labels": ["[0, 3]", "[]", "['sadness', 'surprise']", None, 3.0]})
    from_parquet, _ = validate("posts", adapt("posts", spec, {"emotions": parquet}))
    from_text, _ = validate("posts", adapt("posts", spec, {"emotions": written}))
    assert [list(t) for t in from_parquet["topics"]] == [["joy", "anger"], [], ["sadness"]]
    assert [list(t) for t in from_text["topics"]] == [["joy", "anger"], [], ["sadness", "surprise"], [], ["anger"]]
    # Brackets that are not a list stay one label; a separator still splits.
    odd = pd.DataFrame({"text": ["a", "b"], "labels": ["[draft]", "sport|news"]})
    split, _ = validate("posts", adapt("posts", {**spec, "labels": {"column": "labels", "separator": "|"}},
                                       {"emotions": odd}))
    assert [list(t) for t in split["topics"]] == [["[draft]"], ["sport", "news"]]


@pytest.mark.parametrize(("spec", "message"), [
    ({"raw": "posts", "lables": {"column": "topic"}}, "layout 'x' table 'posts' has no option 'lables'"),
    ({"columns": {"doc_text": "text"}}, "layout 'x' table 'posts' lacks ['raw']"),
    ({"raw": "posts", "labels": {"column": "topic", "seperator": "|"}},
     "layout 'x' table 'posts' labels has no option 'seperator'"),
    ({"raw": "posts", "labels": {"column": "a", "columns": ["b"]}}, "give `column` (one column of labels) or `columns`"),
    ({"raw": "posts", "labels": {"threshold": 0.5}}, "not neither"),
    ({"raw": "wide", "melt": {"columns": "ind_*"}}, "layout 'x' table 'posts' melt lacks ['id']"),
    ({"raw": "posts", "id_types": {"post_id": "uuid"}}, "option 'id_types' must be"),
    ({"raw": "posts", "checks": {"max_rejected": 0.5}}, "unknown ingestion checks ['max_rejected']"),
    ({"raw": "forms", "answers_from_columns": {"column": "Q1"}},
     "layout 'x' table 'posts' answers_from_columns lacks ['columns']"),
    # Posts' text is doc_text: a column named as the raw file names it would leave every post without text.
    ({"raw": "posts", "columns": {"text": "text"}}, "layout 'x' table 'posts' columns names ['text'], not a column of posts"),
    ({"raw": "posts", "generate_id": "id"}, "generate_id names ['id'], not a column of posts"),
    ({"raw": "posts", "labels": {"column": "emotions", "target": "emotions"}}, "labels target names ['emotions']"),
    ({"raw": "posts", "values": {"topic": {"1": "sport"}}}, "values names ['topic'], neither a column of posts"),
    ({"raw": "posts", "sample": {"rows": 0}}, "layout 'x' table 'posts' sample: sample rows must be at least 1, got 0"),
    ({"raw": "posts", "sample": {"n": 100}}, "layout 'x' table 'posts' sample lacks ['rows']"),
    ({"raw": "posts", "dayfirst": "sometimes"}, "option 'dayfirst' must be"),
    ({"raw": "posts", "columns": {"created_at": ["day"]}},
     "columns: created_at must be a raw column's name or a list of two or more names"),
    ({"raw": "posts", "columns": {"created_at": ["day", 10]}}, "got ['day', 10]"),
    ({"raw": "posts", "time_zone": "Europe/Moskow"},
     "layout 'x' table 'posts': time_zone 'Europe/Moskow' is neither a zone's IANA name"),
    ({"raw": "posts", "time_zone": "UTC+15"}, "time_zone 'UTC+15' lies more than 14 hours from UTC"),
    ({"raw": "posts", "exported_at": "yesterday"}, "exported_at 'yesterday' is not a date and time"),
    ({"raw": "posts", "exported_at": "2026-12-07T18:30+03:00"}, "names a zone: give it in the table's local time"),
    ({"raw": "posts", "exported_at": "9999-12-07 18:30"}, "exported_at '9999-12-07 18:30' is after this run"),
])
def test_a_misspelt_or_mistyped_layout_option_is_named_before_anything_runs(spec, message):
    with pytest.raises(ValueError, match=None) as error:
        check_table_layout("layout 'x' table 'posts'", "posts", spec)
    assert message in str(error.value)


def test_leak_guard_rejects_training_texts_seen_in_evaluation_splits():
    spec = {"raw": {"train_file": "train", "test_file": "test"}, "columns": {"doc_text": "text"},
            "labels": {"columns": ["x"]}, "generate_id": "post_id", "leak_guard": {"column": "doc_text", "split": "train"}}
    raw = {"train_file": pd.DataFrame({"text": ["a", "b"], "x": [1, 0]}), "test_file": pd.DataFrame({"text": ["b"], "x": [0]})}
    accepted, rejected = validate("posts", adapt("posts", spec, raw), leak_guard=spec["leak_guard"])
    assert accepted[["doc_text", "split"]].values.tolist() == [["a", "train"], ["b", "test"]]
    assert rejected["reason"].str.contains("leak").all() and rejected["raw"].tolist() == ["train_file"]


def test_a_sample_keeps_each_splits_share_in_file_order_and_the_same_rows_for_the_same_seed():
    frame = pd.DataFrame({"text_id": range(1000), "split": ["train"] * 800 + ["test"] * 190 + [None] * 10})
    kept = sample_rows(frame, {"rows": 100, "seed": 3})
    assert kept["split"].fillna("none").value_counts().to_dict() == {"train": 80, "test": 19, "none": 1}
    assert kept["text_id"].is_monotonic_increasing and kept.index.tolist() == list(range(100))
    assert kept.equals(sample_rows(frame, {"rows": 100, "seed": 3}))
    assert not kept.equals(sample_rows(frame, {"rows": 100, "seed": 4}))
    assert sample_rows(frame, {"rows": "100", "seed": 3}).equals(kept)  # a number written as text in YAML
    assert sample_rows(frame, {"rows": 1000}) is frame  # a table within the sample is kept whole
    tiny_split = sample_rows(frame.iloc[790:], {"rows": 2})  # 10 train, 190 test, 10 without a split
    assert set(tiny_split["split"].fillna("none")) == {"train", "test", "none"}  # every split keeps a row


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
    accepted, _ = validate("feed_events", adapt("feed_events", spec, {"ratings": raw}),
                           checks=Checks(time_min="1995-01-01"))
    assert sorted(map(tuple, accepted[["post_id", "action"]].values.tolist())) == [(5, "like"), (5, "view"), (6, "view")]
    assert accepted["timestamp"].min() == pd.Timestamp("1997-12-04 15:55:49")


def test_ids_known_only_from_another_frame_are_added_as_empty_posts():
    raw = {"posts": pd.DataFrame({"id": [1], "text": ["t"], "topic": ["x"]}), "ids": pd.DataFrame({"post_id": [1, 2, 3]})}
    spec = {**POSTS_SPEC, "add_ids_from": {"raw": "ids", "column": "post_id"}}
    accepted, rejected = validate("posts", adapt("posts", spec, raw))
    assert accepted["post_id"].tolist() == [1, 2, 3] and rejected.empty
    assert [list(t) for t in accepted["topics"]] == [["x"], [], []]


# -- damaged and unusual data: each case is a failing input and the exact outcome ------------------

HOLDINGS_SPEC = {"raw": "services", "columns": {"client_id": "customerID", "product_id": "service"}}
CLIENTS_SPEC = {"raw": "customers", "columns": {"client_id": "customerID"}}


def test_string_client_ids_flow_through_with_foreign_keys_checked():
    customers = pd.DataFrame({"customerID": ["7590-VHVEG", "5575-GNVDE", "3668-QPYBK"]})
    services = pd.DataFrame({"customerID": ["7590-VHVEG", "5575-GNVDE", "9999-NOONE"],
                             "service": ["PhoneService", "StreamingTV", "OnlineBackup"]})
    clients, _ = validate("clients", adapt("clients", CLIENTS_SPEC, {"customers": customers}))
    assert clients["client_id"].tolist() == ["7590-VHVEG", "5575-GNVDE", "3668-QPYBK"]
    # A holdings table with no date column: `since` is optional and stays empty.
    holdings, rejected = validate("holdings", adapt("holdings", HOLDINGS_SPEC, {"services": services}),
                                  {"clients": clients})
    assert holdings["client_id"].tolist() == ["7590-VHVEG", "5575-GNVDE"] and holdings["since"].isna().all()
    assert rejected["reason"].tolist() == ["client_id: not in clients (got '9999-NOONE')"]


def test_uuid_and_zero_padded_ids_are_read_as_strings():
    ids = ["3f2b8a1e-9c4d-4e5f-8a7b-1c2d3e4f5a6b", "00000000-0000-4000-8000-000000000001"]
    users, _ = validate("users", adapt("users", {"raw": "u", "columns": {"user_id": "id"}}, {"u": pd.DataFrame({"id": ids})}))
    assert users["user_id"].tolist() == ids
    padded, _ = validate("users", adapt("users", {"raw": "u", "columns": {"user_id": "id"}},
                                        {"u": pd.DataFrame({"id": ["007", "7", "042"]})}))
    assert padded["user_id"].tolist() == ["007", "7", "042"]  # as integers 007 and 7 would collide


def test_declared_id_type_wins_over_inference():
    spec = {"raw": "u", "columns": {"user_id": "id"}, "id_types": {"user_id": "string"}}
    users, _ = validate("users", adapt("users", spec, {"u": pd.DataFrame({"id": [1, 2]})}), id_types=spec["id_types"])
    assert users["user_id"].tolist() == ["1", "2"]


def test_one_text_cell_among_unix_timestamps_rejects_only_its_row():
    raw = pd.DataFrame({"u": [1, 1, 1], "i": [5, 6, 7], "r": [5, 5, 5], "t": ["1700000000", "oops", 1700000100]})
    spec = {"raw": "ratings", "columns": {"timestamp": "t", "user_id": "u", "post_id": "i"},
            "likes_from": {"column": "r", "min": 4}}
    accepted, rejected = validate("feed_events", adapt("feed_events", spec, {"ratings": raw}))
    assert len(accepted) == 4 and accepted["timestamp"].min() == pd.Timestamp("2023-11-14 22:13:20")
    assert rejected["reason"].tolist() == ["timestamp: not a date or time (got 'oops')"] * 2  # its view and its like


@pytest.mark.parametrize("moment", ["3000-01-01", "1600-01-01", "1999-12-31 23:59", 32503680000, -1e12])
def test_implausible_timestamps_are_rejected_per_row(moment):
    feed = pd.DataFrame({"ts": ["2024-01-01 10:00", moment], "uid": [1, 1], "pid": [1, 2], "action": "view"})
    accepted, rejected = validate("feed_events", adapt("feed_events", FEED_SPEC, {"feed": feed}))
    assert len(accepted) == 1
    assert rejected["reason"].iloc[0].startswith("timestamp: outside the plausible time window 2000-01-01 to ")
    assert repr(moment) in rejected["reason"].iloc[0]


def test_millisecond_epochs_are_read_by_their_magnitude():
    feed = pd.DataFrame({"ts": [1_700_000_000_000, 1_700_000_001_000], "uid": [1, 1], "pid": [1, 2], "action": "view"})
    accepted, _ = validate("feed_events", adapt("feed_events", FEED_SPEC, {"feed": feed}))
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2023-11-14 22:13:20"), pd.Timestamp("2023-11-14 22:13:21")]


def test_typed_times_without_a_zone_are_the_layout_s_local_time_with_its_history_and_zoned_ones_keep_theirs():
    """A workbook's cells are typed times without a zone. Moscow kept summer time until 2011 (UTC+4 in July 2010)
    and has been UTC+3 since 2014; a time typed with its zone is not moved."""
    cells = pd.to_datetime(["2010-07-01 12:00", "2010-12-01 12:00", "2026-07-01 12:00"])
    raw = pd.DataFrame({"id": [1, 2, 3], "text": ["a", "b", "c"], "at": cells})
    spec = {"raw": "p", "columns": {"post_id": "id", "doc_text": "text", "created_at": "at"},
            "time_zone": "Europe/Moscow"}
    accepted, rejected = validate("posts", adapt("posts", spec, {"p": raw}), times=TimeReading.of(spec))
    assert accepted["created_at"].tolist() == [pd.Timestamp(t) for t in ("2010-07-01 08:00", "2010-12-01 09:00",
                                                                         "2026-07-01 09:00")]
    zoned = raw.assign(at=cells.tz_localize("Asia/Tokyo"))
    accepted, _ = validate("posts", adapt("posts", spec, {"p": zoned}), times=TimeReading.of(spec))
    assert accepted["created_at"].tolist() == [pd.Timestamp(t) for t in ("2010-07-01 03:00", "2010-12-01 03:00",
                                                                         "2026-07-01 03:00")]
    assert rejected.empty


def test_values_that_do_not_fit_the_storage_type_are_rejected():
    raw = pd.DataFrame({"uid": ["1", "99999999999999999999", "3"], "sex": [0, 1, 0], "age": [30, 40, "1e400"],
                        "country": ["a", "b", "c"]})
    accepted, rejected = validate("users", adapt("users", USERS_SPEC, {"user_data": raw}))
    assert accepted["user_id"].tolist() == [1]
    assert rejected["reason"].tolist() == ["user_id: does not fit a 64-bit integer id (got '99999999999999999999')",
                                           "age: not a finite number (got '1e400')"]


def test_ids_added_from_another_frame_are_validated_and_counted():
    raw = {"posts": pd.DataFrame({"id": [1], "text": ["t"], "topic": ["x"]}),
           "ids": pd.DataFrame({"post_id": ["1", "2", "50000.7", "abc", None, "2", "50000.0"]})}
    spec = {**POSTS_SPEC, "add_ids_from": {"raw": "ids", "column": "post_id"}}
    adapted = adapt("posts", spec, raw)
    accepted, rejected = validate("posts", adapted)
    assert accepted["post_id"].tolist() == [1, 2, 50000]
    assert rejected["reason"].tolist() == ["post_id: not an integer id (got '50000.7')",
                                           "post_id: not an integer id (got 'abc')", "post_id: missing value (got None)"]
    assert rejected["raw"].tolist() == ["ids"] * 3
    assert len(adapted) == len(accepted) + len(rejected)


def test_a_row_pointing_at_a_rejected_row_says_why_that_row_went():
    raw_users = pd.DataFrame({"uid": [94041, 94042], "sex": [0, 1], "age": [30, 200], "country": ["a", "b"]})
    users, rejected_users = validate("users", adapt("users", USERS_SPEC, {"user_data": raw_users}))
    feed = pd.DataFrame({"ts": ["2024-01-01"] * 2, "uid": [94041, 94042], "pid": [1, 1], "action": "view"})
    _, rejected = validate("feed_events", adapt("feed_events", FEED_SPEC, {"feed": feed}), {"users": users},
                           rejected_references={"users": rejected_users})
    assert rejected["reason"].tolist() == ["user_id: user 94042 was rejected (age: fails in_range(5, 110) (got 200.0))"]


def test_header_only_and_headerless_empty_frames_are_named():
    with pytest.raises(EmptySourceError, match="'feed' has a header but no rows"):
        adapt("feed_events", FEED_SPEC, {"feed": pd.DataFrame(columns=["ts", "uid", "pid", "action"])})
    with pytest.raises(EmptySourceError, match="'feed' is empty: no header and no rows"):
        adapt("feed_events", FEED_SPEC, {"feed": pd.DataFrame()})


def test_a_table_that_lost_too_much_stops_the_run_naming_reasons_and_examples():
    feed = pd.DataFrame({"ts": ["2024-01-01"] * 10 + ["3000-01-01"] * 2, "uid": [1] * 8 + [7, 8, 1, 1],
                         "pid": range(12), "action": "view"})
    adapted = adapt("feed_events", FEED_SPEC, {"feed": feed})
    accepted, rejected = validate("feed_events", adapted, {"users": pd.DataFrame({"user_id": [1]})})
    with pytest.raises(IngestionStopped) as stop:
        enforce_checks("feed_events", len(adapted), len(accepted), rejected, Checks())
    message = str(stop.value)
    assert "ingestion of 'feed_events' stopped: 4 of 12 rows rejected (33.3%, more than max_rejected_share 5.0%)" in message
    assert "'user_id: not in users' × 2; 'timestamp: outside the plausible time window" in message
    assert "feed row 8: user_id: not in users (got 7)" in message and "feed row 9:" in message
    enforce_checks("feed_events", len(adapted), len(accepted), rejected, Checks(max_rejected_share=0.5))
    with pytest.raises(IngestionStopped, match=r"8 rows accepted \(fewer than min_accepted_rows 100\)"):
        enforce_checks("feed_events", len(adapted), len(accepted), rejected, Checks(max_rejected_share=1, min_accepted_rows=100))


def test_a_file_in_another_encoding_stops_saying_how_to_read_it(tmp_path):
    path = tmp_path / "posts.csv"  # Excel's "CSV" of a Russian sheet: cp1251, not UTF-8
    path.write_bytes("id,text,topic\n1,Цены растут,экономика\n2,Матч перенесли,спорт\n3,2024,спорт\n".encode("cp1251"))
    raw = CSVDataset(filepath=str(path), load_args={"encoding_errors": "replace"}).load()
    adapted = adapt("posts", POSTS_SPEC, {"posts": raw})
    accepted, rejected = validate("posts", adapted)
    assert accepted.empty  # the third post's text is digits, its topic was Cyrillic: nothing is left readable
    garbled = "\ufffd" * 5
    assert rejected.set_index("row").at[2, "reason"] == f"topics: bytes that are not UTF-8 (got ['{garbled}'])"
    with pytest.raises(IngestionStopped, match=r"another encoding: give its catalog entry "
                                               r"load_args: \{encoding: cp1251\}"):
        enforce_checks("posts", len(adapted), len(accepted), rejected, Checks())
    read_as_written = CSVDataset(filepath=str(path), load_args={"encoding": "cp1251"}).load()
    accepted, rejected = validate("posts", adapt("posts", POSTS_SPEC, {"posts": read_as_written}))
    assert rejected.empty and accepted["doc_text"].tolist()[:2] == ["Цены растут", "Матч перенесли"]


def test_a_file_split_by_semicolons_read_as_commas_stops_naming_the_separator(tmp_path):
    path = tmp_path / "posts.csv"  # Excel in a Russian locale separates by ";"
    path.write_text("id;text;topic\n1;Цены растут;экономика\n", encoding="utf-8")
    with pytest.raises(MissingColumnsError, match=r"it has \['id;text;topic'\]\. Its one column's name holds ';': "
                                                  r"give the file's catalog entry load_args: \{sep: ';'\}"):
        adapt("posts", POSTS_SPEC, {"posts": CSVDataset(filepath=str(path)).load()})
    with pytest.raises(MissingColumnsError) as stop:  # a comma file that lacks a column gets no such hint
        adapt("posts", POSTS_SPEC, {"posts": pd.DataFrame({"id": [1], "text": ["a;b"]})})
    assert "sep" not in str(stop.value)


def test_numbers_with_a_decimal_comma_stop_saying_how_to_read_them():
    users = pd.DataFrame({"uid": [1, 2, 3], "sex": [0, 1, 0], "age": ["25,5", "31", "40,0"], "country": "RU"})
    adapted = adapt("users", USERS_SPEC, {"user_data": users})
    accepted, rejected = validate("users", adapted)
    assert rejected["reason"].tolist() == ["age: not a number (got '25,5')", "age: not a number (got '40,0')"]
    with pytest.raises(IngestionStopped, match=r"decimal comma: give the file's catalog entry load_args: "
                                               r"\{decimal: ','\}"):
        enforce_checks("users", len(adapted), len(accepted), rejected, Checks())


def test_a_column_named_with_other_spaces_or_case_is_pointed_out():
    raw = pd.DataFrame({"id ": [1], "Text": ["a"], "topic": ["b"]})
    with pytest.raises(MissingColumnsError, match=r"lacks required column\(s\) \['id', 'text'\].*"
                                                  r"The file spells 'id' as 'id '\. The file spells 'text' as 'Text'\."):
        adapt("posts", POSTS_SPEC, {"posts": raw})


def test_a_column_whose_values_the_layout_does_not_map_stops_showing_the_map_to_write():
    raw = pd.DataFrame({"uid": [1, 2, 3, 4], "sex": ["F", "M", "F", None], "age": [20, 30, 300, 40]})
    adapted = adapt("users", {"raw": "u", "columns": {"user_id": "uid", "gender": "sex", "age": "age"}}, {"u": raw})
    accepted, rejected = validate("users", adapted)
    with pytest.raises(IngestionStopped, match=r"The file's values of gender are not among \['female', 'male'\]: map "
                                               r"them in the table's layout, values: \{gender: \{'F': \.\.\., 'M': "
                                               r"\.\.\.\}\}\."):
        enforce_checks("users", len(adapted), len(accepted), rejected, Checks())


def test_a_table_that_lost_too_much_for_other_reasons_gets_no_encoding_hint():
    feed = pd.DataFrame({"ts": ["3000-01-01"] * 2, "uid": [1, 1], "pid": [1, 2], "action": "view"})
    adapted = adapt("feed_events", FEED_SPEC, {"feed": feed})
    accepted, rejected = validate("feed_events", adapted, {"users": pd.DataFrame({"user_id": [1]})})
    with pytest.raises(IngestionStopped) as stop:
        enforce_checks("feed_events", len(adapted), len(accepted), rejected, Checks())
    assert "encoding" not in str(stop.value) and "decimal" not in str(stop.value)


def _feed_at(times: list[str], dayfirst: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    feed = pd.DataFrame({"ts": times, "uid": 1, "pid": range(len(times)), "action": "view"})
    return validate("feed_events", adapt("feed_events", FEED_SPEC, {"feed": feed}), times=TimeReading(dayfirst),
                    checks=Checks(time_max="2030-01-01"))


def test_dotted_dates_are_day_first_in_every_row_of_a_column():
    # Read one by one, 07.12.2026 was 12 July beside 13.12.2026 as 13 December.
    accepted, rejected = _feed_at(["07.12.2026 10:00", "13.12.2026 10:00", "01.02.26", "2026-11-30T09:00:00Z",
                                   "31.12.3000"])
    # a far-future dotted date is out of the time window, not unreadable and not read the other way round
    assert rejected["reason"].tolist() == ["timestamp: outside the plausible time window 2000-01-01 to "
                                           "2030-01-01 00:00 (got '31.12.3000')"]
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2026-12-07 10:00"), pd.Timestamp("2026-12-13 10:00"),
                                              pd.Timestamp("2026-02-01"), pd.Timestamp("2026-11-30 09:00")]


def test_a_date_and_a_time_exported_apart_are_read_as_one_timestamp_and_a_blank_part_leaves_none():
    """Excel's date cells arrive typed (a datetime at midnight) and its time cells as times; a CSV has text. A
    post's time may be missing; a part blank leaves it so (a date without its time is not midnight)."""
    import datetime

    raw = pd.DataFrame({"id": [1, 2, 3, 4], "text": ["a", "b", "c", "d"],
                        "day": pd.to_datetime(["2026-11-07", "2026-11-13", "2026-11-14", None]),
                        "time": [datetime.time(10, 0), datetime.time(23, 59, 30), None, datetime.time(9, 0)]})
    spec = {"raw": "p", "columns": {"post_id": "id", "doc_text": "text", "created_at": ["day", "time"]}}
    accepted, rejected = validate("posts", adapt("posts", spec, {"p": raw}))
    assert accepted["created_at"].tolist()[:2] == [pd.Timestamp("2026-11-07 10:00"), pd.Timestamp("2026-11-13 23:59:30")]
    assert accepted["created_at"].iloc[2:].isna().all() and rejected.empty
    as_text = raw.assign(day=["7 ноября 2026 г.", "13.11.2026", "14.11.2026", "31.11.2026"],
                         time=["10:00", "23:59:30", "", "9:00 PM"])
    accepted, rejected = validate("posts", adapt("posts", spec, {"p": as_text}))
    assert accepted["created_at"].tolist()[:2] == [pd.Timestamp("2026-11-07 10:00"), pd.Timestamp("2026-11-13 23:59:30")]
    assert rejected["reason"].tolist() == ["created_at: not a date or time (got '31.11.2026 9:00 PM')"]


def test_slashed_dates_take_the_order_their_column_shows_and_a_date_only_read_the_other_way_is_rejected():
    accepted, rejected = _feed_at(["07/12/2026", "25/12/2026", "31/12/2026", "12/25/2026"])  # two say day first
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2026-12-07"), pd.Timestamp("2026-12-25"),
                                              pd.Timestamp("2026-12-31")]
    assert rejected["reason"].tolist() == [
        "timestamp: day and month only read in the other order than the column's dates (got '12/25/2026')"]
    accepted, _ = _feed_at(["07/12/2026", "12/25/2026"])  # a US export: month first
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2026-07-12"), pd.Timestamp("2026-12-25")]


def test_slashed_dates_that_show_no_order_are_month_first_with_a_warning_unless_the_layout_says(caplog):
    with caplog.at_level("WARNING"):
        accepted, _ = _feed_at(["07/12/2026", "01/02/2026"])
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2026-07-12"), pd.Timestamp("2026-01-02")]
    assert "feed_events.timestamp: dates such as '07/12/2026' read month first" in caplog.text
    assert "`dayfirst: true`" in caplog.text
    accepted, _ = _feed_at(["07/12/2026", "01/02/2026"], dayfirst=True)
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2026-12-07"), pd.Timestamp("2026-02-01")]


def test_long_ids_that_a_blank_cell_made_floats_are_rejected_not_merged_and_read_as_text_are_kept(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("uid,age\n1234567890123456789,30\n,40\n1234567890123456788,25\n")
    spec = {"raw": "u", "columns": {"user_id": "uid", "age": "age"}}
    accepted, rejected = validate("users", adapt("users", spec, {"u": CSVDataset(filepath=str(path)).load()}))
    assert accepted.empty  # not one user …768 standing for both, the second rejected as its duplicate
    assert rejected["reason"].tolist()[0] == (
        "user_id: read as a float, too long to keep its digits; read its column as text "
        "(load_args: {dtype: {<column>: str}}) (got 1.2345678901234568e+18)")
    as_text = CSVDataset(filepath=str(path), load_args={"dtype": {"uid": str}}).load()
    accepted, _ = validate("users", adapt("users", spec, {"u": as_text}))
    assert accepted["user_id"].tolist() == [1234567890123456789, 1234567890123456788]  # every digit kept


def test_a_table_whose_every_row_is_rejected_stops_at_its_checks_not_at_the_schema():
    raw = pd.DataFrame({"uid": ["1", "2"], "age": ["x", "y"]})  # no gender column: an untyped optional one
    adapted = adapt("users", {"raw": "u", "columns": {"user_id": "uid", "age": "age"}}, {"u": raw})
    accepted, rejected = validate("users", adapted)
    assert accepted.empty
    assert rejected["reason"].tolist() == ["age: not a number (got 'x')", "age: not a number (got 'y')"]
    with pytest.raises(IngestionStopped, match="0 rows accepted"):
        enforce_checks("users", len(adapted), len(accepted), rejected, Checks())


def test_unknown_checks_and_id_types_are_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown ingestion checks \['max_rejected'\]"):
        Checks.from_config({"max_rejected": 0.1})
    with pytest.raises(ValueError, match="id_types must be int, string or auto"):
        validate("users", adapt("users", {"raw": "u", "columns": {"user_id": "id"}}, {"u": pd.DataFrame({"id": [1]})}),
                 id_types={"user_id": "uuid"})


def test_yes_no_service_flags_melt_into_holdings_of_string_clients(caplog):
    raw = pd.DataFrame({"customerID": ["7590-VHVEG", "5575-GNVDE"], "PhoneService": ["No", "Yes"],
                        "StreamingTV": ["Yes", "No internet service"], "OnlineBackup": [" yes", "1"]})
    spec = {"raw": "telco", "columns": {"client_id": "customerID"}, "melt": {"columns": "*e*", "id": "client_id"}}
    with caplog.at_level("WARNING", logger="socialml.components.data.ingest"):
        accepted, rejected = validate("holdings", adapt("holdings", spec, {"telco": raw}))
    assert sorted(map(tuple, accepted[["client_id", "product_id"]].values.tolist())) == [
        ("5575-GNVDE", "OnlineBackup"), ("5575-GNVDE", "PhoneService"), ("7590-VHVEG", "OnlineBackup"),
        ("7590-VHVEG", "StreamingTV")]
    assert rejected.empty and not caplog.records  # "No internet service" is a no
    # A column of kinds, not of flags, is read as not held, and the log says so with its values.
    kinds = raw.assign(InternetService=["DSL", "Fiber optic"])
    with caplog.at_level("WARNING", logger="socialml.components.data.ingest"):
        accepted, _ = validate("holdings", adapt("holdings", spec, {"telco": kinds}))
    assert "InternetService" not in set(accepted["product_id"])
    assert "holdings: InternetService: 'DSL' × 1, 'Fiber optic' × 1 read as not held" in caplog.text


def test_counts_of_units_melt_into_holdings_and_fractions_are_said_not_dropped_in_silence(caplog):
    """A client × service table of counts (accounts, cards): any whole number from 1 is held, 0 is not."""
    raw = pd.DataFrame({"client": ["a", "b", "c"], "accounts": [2, 0, 1], "cards": ["3", "0", None],
                        "loans": [0.5, 0.0, 1.0]})
    spec = {"raw": "bank", "columns": {"client_id": "client"}, "melt": {"columns": "*", "id": "client_id"}}
    with caplog.at_level("WARNING", logger="socialml.components.data.ingest"):
        accepted, rejected = validate("holdings", adapt("holdings", spec, {"bank": raw}))
    assert sorted(map(tuple, accepted[["client_id", "product_id"]].values.tolist())) == [
        ("a", "accounts"), ("a", "cards"), ("c", "accounts"), ("c", "loans")]
    assert rejected.empty and "holdings: loans: 0.5 × 1 read as not held" in caplog.text


def test_answers_without_a_count_column_count_once_each():
    spec = {"raw": "texts", "columns": {"answer_text": "text"}, "generate_id": "answer_id",
            "constants": {"question_id": 1, "question_text": "Что вы хотели сделать?"}}
    accepted, rejected = validate("answers", adapt("answers", spec, {"texts": pd.DataFrame({"text": ["будильник", "погода"]})}))
    assert accepted["count"].tolist() == [1, 1] and rejected.empty
    counted = {**spec, "columns": {"answer_text": "text", "count": "n"}}
    raw = pd.DataFrame({"text": ["будильник", "погода"], "n": [3, None]})
    accepted, rejected = validate("answers", adapt("answers", counted, {"texts": raw}))
    assert accepted["count"].tolist() == [3] and rejected["reason"].str.startswith("count").all()


GOOGLE_FORMS_CSV = (  # one row per respondent, one column per question, as Google Forms exports a survey
    "Отметка времени,Что вам нравится в работе?,Что мешает работать?,Оцените работу от 1 до 5\n"
    '2026/11/30 10:01:02,коллектив,"бюрократия, отчёты",4\n'
    "2026/11/30 10:05:40,,долгие согласования,2\n"  # the first question left unanswered
    "2026/11/30 11:12:13,гибкий график,   ,5\n"  # a blank answer is not an answer
)


def test_a_survey_exported_one_column_per_question_becomes_one_answer_per_answered_cell(tmp_path, caplog):
    path = tmp_path / "forms.csv"
    path.write_text(GOOGLE_FORMS_CSV, encoding="utf-8")
    spec = {"raw": "forms", "keep": ["Отметка времени"], "generate_id": "answer_id",
            "answers_from_columns": {"columns": "Что*"}}  # the open questions, not the timestamp or the score
    check_table_layout("layout 'forms' table 'answers'", "answers", spec)
    with caplog.at_level("INFO", logger="socialml.components.data.ingest"):
        accepted, rejected = validate("answers", adapt("answers", spec, {"forms": CSVDataset(filepath=str(path)).load()}))
    assert rejected.empty and "4 answers from 2 question columns; 2 cells left blank" in caplog.text
    assert accepted[["question_id", "question_text", "answer_text"]].values.tolist() == [
        [1, "Что вам нравится в работе?", "коллектив"], [2, "Что мешает работать?", "бюрократия, отчёты"],
        [2, "Что мешает работать?", "долгие согласования"], [1, "Что вам нравится в работе?", "гибкий график"]]
    assert accepted["answer_id"].tolist() == [1, 2, 3, 4] and accepted["count"].tolist() == [1] * 4
    everything = {**spec, "answers_from_columns": {"columns": "*"}}  # every column not kept: the score too
    assert set(validate("answers", adapt("answers", everything, {"forms": CSVDataset(filepath=str(path)).load()}))[0]
               ["question_id"]) == {1, 2, 3}
    with pytest.raises(MissingColumnsError, match="no question column matches 'Q\\*'"):
        adapt("answers", {**spec, "answers_from_columns": {"columns": "Q*"}}, {"forms": CSVDataset(filepath=str(path)).load()})


def test_a_form_export_saved_as_an_excel_workbook_unpivots_into_answers(tmp_path):
    # As Google Forms or SurveyMonkey download it: real date cells, a score column, blank cells, Cyrillic headers.
    path = tmp_path / "survey.xlsx"
    pd.DataFrame({"Отметка времени": pd.to_datetime(["2026-11-30 10:01:02", "2026-11-30 10:05:40"]),
                  "Что вам нравится?": ["скорость", None], "Что мешает?": ["реклама", "ничего"], "Оценка": [5, 4]},
                 ).to_excel(path, sheet_name="Ответы", index=False)
    raw = ExcelDataset(filepath=str(path), load_args={"sheet_name": "Ответы"}).load()
    spec = {"raw": "forms", "keep": ["Отметка времени", "Оценка"], "answers_from_columns": {"columns": "Что*"},
            "generate_id": "answer_id"}
    accepted, rejected = validate("answers", adapt("answers", spec, {"forms": raw}))
    assert rejected.empty
    assert accepted[["question_id", "question_text", "answer_text"]].values.tolist() == [
        [1, "Что вам нравится?", "скорость"], [2, "Что мешает?", "реклама"], [2, "Что мешает?", "ничего"]]
    assert accepted["Оценка"].tolist() == [5, 5, 4]


def test_a_form_export_where_every_question_was_left_blank_stops_naming_the_table():
    raw = pd.DataFrame({"Отметка времени": ["2026/11/30 10:01:02", "2026/11/30 10:05:40"],
                        "Что вам нравится?": ["", None], "Что мешает?": ["   ", None]})
    spec = {"raw": "forms", "keep": ["Отметка времени"], "answers_from_columns": {"columns": "*"},
            "generate_id": "answer_id"}
    adapted = adapt("answers", spec, {"forms": raw})
    accepted, rejected = validate("answers", adapted)
    with pytest.raises(IngestionStopped, match="ingestion of 'answers' stopped: 0 rows accepted"):
        enforce_checks("answers", len(adapted), len(accepted), rejected, Checks())


def test_whole_numbers_read_as_floats_for_a_gap_in_their_column_keep_their_written_form():
    # A gold group of class ids and a polarity of 1 / -1, each column with one blank cell: pandas reads them
    # as 3.0 and 1.0; the group is "3", not "3.0", and the polarity still maps.
    intents = pd.DataFrame({"text": ["поставь будильник", "какая погода", "x"], "label": [3, 17, None]})
    spec = {"raw": "i", "columns": {"answer_text": "text", "true_group": "label"}, "generate_id": "answer_id",
            "constants": {"question_id": 1, "question_text": "Что вы хотели сделать?"}}
    accepted, _ = validate("answers", adapt("answers", spec, {"i": intents}))
    assert accepted["true_group"].tolist()[:2] == ["3", "17"] and pd.isna(accepted["true_group"].iloc[2])
    tweets = pd.DataFrame({"t": ["класс", "ужас", "без метки"], "y": [1, -1, None]})
    spec = {"raw": "t", "columns": {"text": "t", "sentiment": "y"}, "generate_id": "text_id",
            "values": {"sentiment": {1: "positive", -1: "negative"}}}
    accepted, rejected = validate("sentiment_texts", adapt("sentiment_texts", spec, {"t": tweets}))
    assert accepted["sentiment"].tolist() == ["positive", "negative"]
    assert rejected["reason"].tolist() == ["sentiment: missing value (got None)"]


def test_a_folder_of_files_is_stacked_with_each_split_and_ids_from_a_folder_are_refused():
    """expand_partitions: each file in its folder's place, with its split; add_ids_from reads one file."""
    spec = {"raw": {"train": "train", "test": "test"}, "columns": {"doc_text": "text"}, "generate_id": "post_id"}
    raw = {"train": {"b": lambda: pd.DataFrame({"text": ["b"]}), "a": pd.DataFrame({"text": ["a"]})},
           "test": pd.DataFrame({"text": ["c"]})}
    expanded, frames = expand_partitions("posts", spec, raw)
    assert expanded["raw"] == {"train/a": "train", "train/b": "train", "test": "test"}
    accepted, _ = validate("posts", adapt("posts", expanded, frames))
    assert accepted[["doc_text", "split"]].values.tolist() == [["a", "train"], ["b", "train"], ["c", "test"]]
    with pytest.raises(SettingsError, match=r"posts: add_ids_from reads one file; raw frame 'ids' is a folder of 1"):
        expand_partitions("posts", {"raw": "posts", "add_ids_from": {"raw": "ids", "column": "pid"}},
                          {"posts": pd.DataFrame({"pid": [1]}), "ids": {"x": pd.DataFrame({"pid": [2]})}})
