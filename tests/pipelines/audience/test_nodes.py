import re

import numpy as np
import pandas as pd
import pytest

from socialml.pipelines.audience.nodes import prepare_audience_targets

PARAMS = {"age_edges": [18, 25], "age_labels": ["<18", "18-24", "25+"], "protocol": {"kind": "kfold", "folds": 5, "seed": 0}}


def _users(gender: list, age: list) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(len(gender))], "gender": gender, "age": age})


def test_users_with_one_target_are_kept_for_it_and_those_with_neither_are_counted(caplog):
    users = _users(["male", "female"] * 15 + [None] * 4 + ["female"] * 6 + [None] * 3,
                   [17.0, 30.0, 22.0] * 10 + [40.0] * 4 + [np.nan] * 6 + [np.nan] * 3)
    views = pd.DataFrame({"user_id": users["user_id"].iloc[1:]})  # u0 has no history: not a viewer
    with caplog.at_level("INFO", logger="socialml.pipelines.audience.nodes"):
        targets = prepare_audience_targets(users, views, PARAMS)
    assert len(targets) == 39 and targets["sex"].isna().sum() == 4 and targets["age"].isna().sum() == 6
    assert ("39 of 42 users with views are scored (3 with neither gender nor age are left out); 4 without gender "
            "score on age only, 6 without age on sex only") in caplog.text
    assert sorted(set(targets["fold"])) == [0, 1, 2, 3, 4]
    assert targets.loc[targets["sex"].isna(), "fold"].nunique() == 4  # a stratum of their own, spread out


@pytest.mark.parametrize(("gender", "age", "message"), [
    ([None, None, None], [17.0, 30.0, 22.0], "column 'gender' is empty for all 3 users with views, so the sex model"),
    (["male", "female", None], [np.nan, np.nan, np.nan], "column 'age' is empty for all 3 users with views, so the age model"),
    ([], [], "column 'gender' is empty for all 0 users with views"),  # a header-only users table
])
def test_a_target_no_user_has_stops_naming_the_users_table(gender, age, message):
    users = _users(gender, age)
    with pytest.raises(ValueError, match=re.escape(f"users: {message}")):
        prepare_audience_targets(users, pd.DataFrame({"user_id": users["user_id"]}), PARAMS)


@pytest.mark.parametrize(("gender", "age", "message"), [
    (["male"] * 20, [17.0, 30.0] * 10, "column 'gender' is 'male' for every user that has one (20 users)"),
    (["male", "female"] * 10, [33.0] * 10 + [np.nan] * 10, "column 'age' is '25+' for every user that has one (10 users)"),
])
def test_a_target_with_one_value_stops_naming_the_column(gender, age, message):
    users = _users(gender, age)
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_audience_targets(users, pd.DataFrame({"user_id": users["user_id"]}), PARAMS)
