"""python -m kdviz: info and data, with clear messages."""
from __future__ import annotations

from conftest import write_fake_dataset
from kdviz.__main__ import main


def test_info_lists_profile_data_and_checkpoints(capsys, isolated_home, monkeypatch):
    monkeypatch.setenv("KDVIZ_PROFILE", "quick")
    write_fake_dataset(isolated_home / "data" / "mnist", counts=(60_000, 10_000))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "profile: quick" in out and f"mnist: {isolated_home / 'data' / 'mnist'} (verified)" in out
    assert "fashion-mnist: not found" in out and "checkpoints in" in out


def test_data_verifies_what_it_finds(capsys, isolated_home):
    write_fake_dataset(isolated_home / "data" / "mnist")
    assert main(["data", "--name", "mnist", "--no-download"]) == 0
    assert "mnist test: 10,000 images verified" in capsys.readouterr().out


def test_data_says_how_to_get_missing_data(capsys):
    assert main(["data", "--name", "fashion-mnist", "--no-download"]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def test_info_says_when_found_data_is_unusable(capsys, isolated_home):
    folder = isolated_home / "data" / "mnist"
    write_fake_dataset(folder, counts=(60_000, 10_000))
    victim = sorted(folder.iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    assert main(["info"]) == 0
    assert f"mnist: found in {folder}, but unusable:" in capsys.readouterr().out


def test_a_bad_setting_is_one_line_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setenv("KDVIZ_DEVICE", "cuda:7")
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m kdviz info: device must be one of") and "Traceback" not in err
    monkeypatch.delenv("KDVIZ_DEVICE")
    monkeypatch.setenv("KDVIZ_PROFILE", "fast")
    assert main(["info"]) == 2
    assert "profile must be one of ['full', 'quick'], got 'fast'" in capsys.readouterr().err


def test_a_tensorboard_switch_naming_a_file_stops_prepare_before_any_work(capsys, monkeypatch, tmp_path):
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("KDVIZ_TENSORBOARD", str(tmp_path / "a file"))
    assert main(["prepare", "--profile", "quick", "--notebooks", "00"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m kdviz prepare: KDVIZ_TENSORBOARD must be 1, 0 or a folder") and "Traceback" not in err
