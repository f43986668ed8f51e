import re

import numpy as np
import pandas as pd
import pytest

from socialml.pipelines.audience.nodes import prepare_audience_targets

PARAMS = {"age_edges": [18, 25], "age_labels": ["<18", "18-24", "25+"], "protocol": {"kind": "kfold", "folds": 5, "seed": 0}}


def _users(gender: list, age: list) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(len(gender))], "gender": gender, "age": age})


def test_users_without_gender_or_age_are_left_out_and_counted(caplog):
    users = _users(["male", "female"] * 15 + [None] * 4 + ["female"] * 6, [17.0, 30.0, 22.0] * 10 + [40.0] * 4 + [np.nan] * 6)
    views = pd.DataFrame({"user_id": users["user_id"].iloc[1:]})  # u0 has no history: not a viewer
    with caplog.at_level("INFO", logger="socialml.pipelines.audience.nodes"):
        targets = prepare_audience_targets(users, views, PARAMS)
    assert len(targets) == 29 and targets[["sex", "age"]].notna().all().all()
    assert "29 of 39 users with views are scored; left out: 4 without gender, 6 without age" in caplog.text
    assert sorted(set(targets["fold"])) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("gender", "age", "message"), [
    (["male", None, "female", None], [np.nan, 30.0, np.nan, 22.0], "none of the 4 users with views has both a gender "
                                                                    "and an age (2 lack gender, 2 age)"),
    ([], [], "none of the 0 users with views"),  # a header-only users table
])
def test_no_user_with_both_targets_stops_naming_the_users_table(gender, age, message):
    users = _users(gender, age)
    with pytest.raises(ValueError, match=re.escape(f"users: {message}")):
        prepare_audience_targets(users, pd.DataFrame({"user_id": users["user_id"]}), PARAMS)


@pytest.mark.parametrize(("gender", "age", "message"), [
    (["male"] * 20, [17.0, 30.0] * 10, "every scored user has gender 'male' (20 users)"),
    (["male", "female"] * 10, [33.0] * 20, "every scored user has age '25+' (20 users)"),
])
def test_a_target_with_one_value_stops_naming_the_column(gender, age, message):
    users = _users(gender, age)
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_audience_targets(users, pd.DataFrame({"user_id": users["user_id"]}), PARAMS)
