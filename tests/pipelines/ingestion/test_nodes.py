"""A raw frame read from a folder of files (Kedro's PartitionedDataset), in pandas and on the engine."""

import pandas as pd
import pytest
from kedro_datasets.partitions import PartitionedDataset

from socialml.components.core.errors import DataStop
from socialml.components.data.ingest import EmptySourceError
from socialml.pipelines.ingestion.nodes import ingest_events, ingest_table

LOG = {"raw": "feed", "columns": {"timestamp": "t", "user_id": "uid", "post_id": "pid", "action": "a"}}
REFERENCES = {"ref_users": pd.DataFrame({"user_id": [1, 2]}), "ref_posts": pd.DataFrame({"post_id": [1, 2, 3]})}
CHECKS = {"max_rejected_share": 1.0}


def write_months(folder, months: dict[str, str]) -> PartitionedDataset:
    folder.mkdir()
    for name, text in months.items():
        (folder / f"{name}.csv").write_text(text)
    return PartitionedDataset(path=str(folder), dataset="pandas.CSVDataset", filename_suffix=".csv")


@pytest.fixture
def months(tmp_path) -> PartitionedDataset:
    """A log split by month: its files' names sort in date order, numbers by their value (not in the order they
    were written, nor as text: 2026-10 after 2026-3); March's second row repeats January's first, a row of
    February names an unknown user, April has a header alone."""
    return write_months(tmp_path / "feed", {
        "2026-3": "t,uid,pid,a\n2026-03-01,2,3,view\n2026-01-05,1,1,view\n",
        "2026-1": "t,uid,pid,a\n2026-01-05,1,1,view\n2026-01-06,1,2,like\n",
        "2026-10": "t,uid,pid,a\n2026-10-01,1,3,view\n",
        "2026-2": "t,uid,pid,a\n2026-02-01,9,1,view\n2026-02-02,2,2,view\n",
        "2026-4": "t,uid,pid,a\n"})


@pytest.mark.parametrize("on_engine", [False, True])
def test_a_log_split_by_month_is_stacked_in_name_order_and_a_rejected_row_names_its_file(months, on_engine):
    partitions = months.load()
    if on_engine:
        accepted, rejected, counts = ingest_events("feed_events", LOG, {"kind": "duckdb"}, CHECKS, raw_feed=partitions,
                                                   **REFERENCES)
        accepted = accepted.execute()
    else:
        accepted, rejected, counts = ingest_table("feed_events", LOG, CHECKS, raw_feed=partitions, **REFERENCES)
    assert accepted["timestamp"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-05", "2026-01-06", "2026-02-02",
                                                                       "2026-03-01", "2026-10-01"]
    assert rejected[["raw", "row"]].values.tolist() == [["feed/2026-2", 0], ["feed/2026-3", 1]]
    assert rejected["reason"].str.startswith("user_id: not in users").tolist() == [True, False]
    assert (counts["raw_rows"], counts["accepted"], counts["rejected"]) == (7, 5, 2)


@pytest.mark.parametrize("on_engine", [False, True])
def test_a_folder_without_rows_or_with_an_unreadable_file_stops_naming_it(tmp_path, on_engine):
    def ingest(partitions):
        if on_engine:
            return ingest_events("feed_events", LOG, {"kind": "duckdb"}, CHECKS, source="shop", raw_feed=partitions,
                                 **REFERENCES)
        return ingest_table("feed_events", LOG, CHECKS, source="shop", raw_feed=partitions, **REFERENCES)

    headers = write_months(tmp_path / "headers", {"2026-01": "t,uid,pid,a\n", "2026-02": "t,uid,pid,a\n"})
    with pytest.raises(EmptySourceError,
                       match=r"shop.feed_events: raw frame 'feed' is a folder of 2 files without rows"):
        ingest(headers.load())
    with pytest.raises(EmptySourceError, match=r"raw frame 'feed' is a folder of 0 files without rows"):
        ingest({})
    broken = write_months(tmp_path / "broken", {"2026-01": "t,uid,pid,a\n2026-01-05,1,1,view\n", "2026-02": ""})
    with pytest.raises(DataStop, match=r"feed_events: raw frame 'feed': its file '2026-02' cannot be read"):
        ingest(broken.load())


def test_a_workbook_read_whole_is_its_sheets_stacked_and_a_rejected_row_names_its_sheet(tmp_path):
    """ExcelDataset with `load_args: {sheet_name: null}` gives every sheet by name, as a folder gives its files."""
    from kedro_datasets.pandas import ExcelDataset

    path = tmp_path / "log.xlsx"
    with pd.ExcelWriter(path) as workbook:
        pd.DataFrame({"t": ["2026-01-05"], "uid": [1], "pid": [1], "a": ["view"]}).to_excel(
            workbook, sheet_name="январь", index=False)
        pd.DataFrame({"t": ["2026-02-01", "2026-02-02"], "uid": [2, 9], "pid": [2, 2], "a": ["view"] * 2}).to_excel(
            workbook, sheet_name="февраль", index=False)
    sheets = ExcelDataset(filepath=str(path), load_args={"sheet_name": None}).load()
    accepted, rejected, counts = ingest_table("feed_events", LOG, CHECKS, raw_feed=sheets, **REFERENCES)
    assert len(accepted) == 2 and counts["raw_rows"] == 3
    assert rejected[["raw", "row"]].values.tolist() == [["feed/февраль", 1]]
