"""python -m kdviz: info and data, with clear messages."""
from __future__ import annotations

from conftest import write_fake_dataset
from kdviz.__main__ import main


def test_info_lists_profile_data_and_checkpoints(capsys, isolated_home, monkeypatch):
    monkeypatch.setenv("KDVIZ_PROFILE", "quick")
    write_fake_dataset(isolated_home / "data" / "mnist", counts=(60_000, 10_000))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "profile: quick" in out and f"mnist: {isolated_home / 'data' / 'mnist'}" in out
    assert "fashion-mnist: not found" in out and "checkpoints in" in out


def test_data_verifies_what_it_finds(capsys, isolated_home):
    write_fake_dataset(isolated_home / "data" / "mnist")
    assert main(["data", "--name", "mnist", "--no-download"]) == 0
    assert "mnist test: 10,000 images verified" in capsys.readouterr().out


def test_data_says_how_to_get_missing_data(capsys):
    assert main(["data", "--name", "fashion-mnist", "--no-download"]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
