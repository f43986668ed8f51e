import os
import pickle
import subprocess
import sys

import pandas as pd
import pytest
from kedro.io.core import Version
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset

from socialml.components.core.durable import (
    AtomicFile,
    AtomicLocalFileSystem,
    make_writes_atomic,
    partial_path,
    remove_abandoned_partials,
)


class BreaksWhilePickled:
    """Pickles a large payload first, then fails: a save torn half-way, as a crash would tear it."""

    def __reduce__(self):
        raise RuntimeError("killed mid-save")


def test_a_file_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model.pkl"
    with AtomicFile(target) as file:
        file.write(b"whole")
        assert not target.exists()  # nothing under the real name while it is being written
    assert target.read_bytes() == b"whole"
    with pytest.raises(RuntimeError), AtomicFile(target) as file:
        file.write(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [target]


def test_a_torn_save_of_a_versioned_model_leaves_the_last_whole_version_as_latest(tmp_path):
    path = str(tmp_path / "model.pkl")
    PickleDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")).save({"weights": 1})
    torn = PickleDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z"))
    assert make_writes_atomic(torn) and not make_writes_atomic(torn)  # wrapped once
    with pytest.raises(Exception, match="killed mid-save"):
        torn.save([list(range(100_000)), BreaksWhilePickled()])
    latest = PickleDataset(filepath=path, version=Version(None, None))
    assert latest.resolve_load_version() == "2026-01-01T00.00.00.000Z"
    assert latest.load() == {"weights": 1}


def test_unversioned_tables_are_replaced_atomically(tmp_path):
    dataset = ParquetDataset(filepath=str(tmp_path / "users.parquet"))
    make_writes_atomic(dataset)
    dataset.save(pd.DataFrame({"user_id": ["7590-VHVEG"]}))
    dataset.save(pd.DataFrame({"user_id": ["5575-GNVDE", "3668-QPYBK"]}))
    assert dataset.load()["user_id"].tolist() == ["5575-GNVDE", "3668-QPYBK"]
    assert [p.name for p in tmp_path.iterdir()] == ["users.parquet"]


def test_a_dataset_with_atomic_writes_pickles_and_still_writes_atomically(tmp_path):
    dataset = ParquetDataset(filepath=str(tmp_path / "users.parquet"))
    make_writes_atomic(dataset)  # a catalog pickled with its datasets (kedro-mlflow's pipeline models)
    copy = pickle.loads(pickle.dumps(dataset))
    assert isinstance(copy._fs, AtomicLocalFileSystem)
    copy.save(pd.DataFrame({"user_id": ["7590-VHVEG"]}))
    assert copy.load()["user_id"].tolist() == ["7590-VHVEG"]


def test_half_written_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True).stdout)
    version = tmp_path / "model.pkl" / "2026-01-01T00.00.00.000Z"
    version.mkdir(parents=True)
    ours = partial_path(version / "model.pkl")
    ours.write_bytes(b"being written")
    dead = version / f".model.pkl.{dead_pid}-0badc0de.partial"
    dead.write_bytes(b"torn")
    assert remove_abandoned_partials(tmp_path) == [dead]
    assert ours.exists() and str(os.getpid()) in ours.name
