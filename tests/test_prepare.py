"""kdviz.prepare and kdviz.runner: data fetched and shared, notebooks run in a kernel, failures reported."""
from __future__ import annotations

import os
import stat

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import write_fake_dataset
from kdviz import __main__ as cli
from kdviz import config, data, prepare, runner


def _notebook(folder, name: str, source: str):
    path = folder / name
    nbformat.write(new_notebook(cells=[new_code_cell(source)]), path)
    return path


MARKER = """
import os, pathlib
from kdviz import config
home = config.home_dir()
(home / "results").mkdir(parents=True, exist_ok=True)
(home / "results" / f"ran-{config.get_profile().name}").write_text("yes")
"""


@pytest.fixture
def fake_data(isolated_home, monkeypatch):
    write_fake_dataset(isolated_home / "data" / "fashion-mnist")
    info = data.DATASETS["fashion-mnist"]
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", data.DatasetInfo(**{**info.__dict__, "sha256": {}}))
    monkeypatch.setattr(data, "DEBIAN_DIR", isolated_home / "no-debian")
    data._load_cached.cache_clear()
    yield isolated_home
    data._load_cached.cache_clear()


def test_prepare_into_a_folder_makes_a_read_only_kdviz_data(fake_data, tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    good = _notebook(notebooks, "00_good.ipynb", MARKER)
    shared = tmp_path / "shared"
    report = prepare.prepare("quick", into=shared, notebooks=[good], allow_download=False, progress=False)
    assert [row["ok"] for row in report] == [True, True], report
    assert (shared / "results" / "ran-quick").read_text() == "yes"  # the kernel wrote into the shared folder
    files = sorted(p.name for p in (shared / "fashion-mnist").iterdir())
    assert files == sorted(p.name for p in (fake_data / "data" / "fashion-mnist").iterdir())
    assert all(p.stat().st_mode & stat.S_IROTH for p in (shared / "fashion-mnist").iterdir())
    assert "KDVIZ_DATA=" in prepare.summary(report, shared)

    # the folder works read-only as KDVIZ_DATA, with nothing else on the machine
    for path in [shared, *shared.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    monkeypatch.setenv(config.DATA_VARIABLE, str(shared))
    monkeypatch.setenv(config.HOME_VARIABLE, str(tmp_path / "empty-home"))
    data._load_cached.cache_clear()
    images, _ = data.load("fashion-mnist", "test", allow_download=False)
    assert len(images) == 10_000 and data.find_files("fashion-mnist", "test")[0].parent == shared / "fashion-mnist"


def test_a_failing_notebook_is_reported_and_the_others_still_run(fake_data, tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    broken = _notebook(notebooks, "00_broken.ipynb", "raise RuntimeError('this cell is broken')")
    good = _notebook(notebooks, "01_good.ipynb", MARKER)
    report = prepare.prepare("quick", notebooks=[broken, good], allow_download=False, progress=False)
    assert [row["ok"] for row in report] == [True, False, True]
    assert "this cell is broken" in report[1]["detail"]
    assert "failed" in prepare.summary(report)
    assert (fake_data / "results" / "ran-quick").is_file()


def test_missing_data_stops_with_the_way_to_get_it(isolated_home, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nothing")
    data._load_cached.cache_clear()
    report = prepare.prepare("quick", notebooks=[], allow_download=False, progress=False)
    assert len(report) == 1 and not report[0]["ok"] and "apt-get install dataset-fashion-mnist" in report[0]["detail"]


def test_runner_sets_the_profile_and_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(config.PROFILE_VARIABLE, raising=False)
    path = _notebook(tmp_path, "00_profile.ipynb", "import os\nprint(os.environ['KDVIZ_PROFILE'])")
    seconds, peak = runner.execute(path, "quick", write=True)
    assert seconds > 0 and (peak is None or peak > 0)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip() == "quick"
    assert config.PROFILE_VARIABLE not in os.environ
    with pytest.raises(FileNotFoundError, match="clone of the repository"):
        runner.notebooks(tmp_path / "nowhere")


def test_cli_selects_notebooks_by_number(monkeypatch, capsys):
    assert cli.main(["prepare", "--notebooks", "99"]) == 2
    assert "no notebook starts with ['99']" in capsys.readouterr().err
    chosen = []
    monkeypatch.setattr(prepare, "prepare", lambda profile, **kw: chosen.append((profile, kw["notebooks"])) or [])
    assert cli.main(["prepare", "--profile", "quick", "--notebooks", "02"]) == 0
    assert chosen[0][0] == "quick" and [p.name for p in chosen[0][1]] == ["02_pruning.ipynb"]
