"""The template process's preload: what a worker lists is imported, and a damaged list never stops a fork."""

from __future__ import annotations

import json
import sys

from socialml.serving.template import preload
from socialml.serving.worker import write_modules


def test_a_worker_lists_its_modules_in_import_order_in_one_atomic_write(tmp_path):
    listed = tmp_path / "modules.json"
    write_modules(listed)
    names = json.loads(listed.read_text())
    assert "json" in names and "socialml.serving.worker" in names and "__main__" not in names
    assert names.index("socialml") < names.index("socialml.serving.worker")  # a package before its modules
    assert [p.name for p in tmp_path.iterdir()] == ["modules.json"]  # no partial file left behind


def test_preload_imports_what_is_listed_and_skips_what_does_not_import(tmp_path, monkeypatch):
    fresh = next(name for name in ("colorsys", "wave", "sndhdr", "chunk") if name not in sys.modules)
    listed = tmp_path / "modules.json"
    listed.write_text(json.dumps(["json", "socialml_no_such_module", fresh]))
    monkeypatch.setattr("gc.freeze", lambda: None)  # keep the test process's collector as it is
    assert preload(listed) == 1
    assert fresh in sys.modules and "socialml_no_such_module" not in sys.modules


def test_preload_of_a_torn_or_missing_list_imports_nothing(tmp_path):
    torn = tmp_path / "modules.json"
    torn.write_text(json.dumps(["json", "colorsys"])[:7])
    assert preload(torn) == 0
    assert preload(tmp_path / "absent.json") == 0
