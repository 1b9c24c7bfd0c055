"""kdviz.pack: a prepared cache in one archive, verified whole before anything in it is used."""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile

import pytest
import torch

from kdviz import __main__ as cli
from kdviz import cache, config, pack


@pytest.fixture
def prepared(tmp_path):
    """A small prepared folder: a checkpoint, a JSON result and a data file, as KDVIZ_HOME lays them out."""
    root = tmp_path / "prepared"
    (root / "checkpoints").mkdir(parents=True)
    (root / "results").mkdir()
    (root / "data" / "fashion-mnist").mkdir(parents=True)
    torch.save({"state_dict": {"weight": torch.arange(6.0)}, "history": [], "meta": {}},
               root / "checkpoints" / "teacher-quick-x-seed0-y.pt")
    (root / "results" / "student-abc.json").write_text(json.dumps({"settings": {}, "result": {"accuracy": 0.9}}))
    (root / "data" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b fake but opaque bytes")
    files = ["checkpoints/teacher-quick-x-seed0-y.pt", "results/student-abc.json",
             "data/fashion-mnist/t10k-labels-idx1-ubyte.gz"]
    return root, files


def _rewrite(archive, change):
    """Rewrite an archive member by member through ``change(name, bytes) -> (name, bytes) or None``."""
    members = []
    with tarfile.open(archive) as tar:
        for member in tar:
            members.append((member.name, tar.extractfile(member).read()))
    with tarfile.open(archive, "w") as tar:
        for name, content in members:
            changed = change(name, content)
            if changed is not None:
                info = tarfile.TarInfo(changed[0])
                info.size = len(changed[1])
                tar.addfile(info, io.BytesIO(changed[1]))


def _relist(archive, extra_name: str, extra: bytes):
    """Add a member and list it in the manifest with its true SHA-256 (a consistent but hostile archive)."""
    def change(name, content):
        if name == pack.MANIFEST:
            manifest = json.loads(content)
            manifest["files"].append({"path": extra_name, "sha256": hashlib.sha256(extra).hexdigest(),
                                      "bytes": len(extra)})
            return name, json.dumps(manifest).encode()
        return name, content
    _rewrite(archive, change)
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo(extra_name)
        info.size = len(extra)
        tar.addfile(info, io.BytesIO(extra))


def test_a_round_trip_restores_every_file_byte_for_byte(prepared, tmp_path):
    root, files = prepared
    archive = tmp_path / "room.kdviz.tar"
    manifest = pack.write(archive, {name: root / name for name in files}, "quick")
    assert [entry["path"] for entry in manifest["files"]] == sorted(files)
    assert manifest["profile"] == "quick" and manifest["kdviz"] == pack.__version__
    assert manifest["profile_fingerprint"] == pack.profile_fingerprint(config.get_profile("quick"))
    target = tmp_path / "unpacked"
    pack.unpack(archive, target, "quick")
    for name in files:
        assert (target / name).read_bytes() == (root / name).read_bytes()


def test_the_command_line_unpacks_and_refuses_with_the_archive_named(prepared, tmp_path, capsys):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    assert cli.main(["unpack", str(archive), "--into", str(tmp_path / "a"), "--profile", "quick"]) == 0
    assert "3 files" in capsys.readouterr().out
    assert cli.main(["unpack", str(archive), "--into", str(tmp_path / "b"), "--profile", "full"]) == 1
    error = capsys.readouterr().err
    assert str(archive) in error and "'quick' profile" in error
    assert not (tmp_path / "b").exists()


def test_a_truncated_archive_is_refused_and_nothing_is_written(prepared, tmp_path):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    whole = archive.read_bytes()
    for cut in (len(whole) // 2, 700, 100):
        archive.write_bytes(whole[:cut])
        with pytest.raises(pack.PackError, match="room.tar"):
            pack.unpack(archive, tmp_path / "target", "quick")
    assert not (tmp_path / "target").exists()


def test_a_dropped_member_is_refused(prepared, tmp_path):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    _rewrite(archive, lambda name, content: None if name.startswith("results/") else (name, content))
    with pytest.raises(pack.PackError, match="truncated: 1 listed files are missing"):
        pack.verify(archive, "quick")


def test_a_changed_byte_is_refused(prepared, tmp_path):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")

    def flip(name, content):
        if name.startswith("results/"):
            content = content.replace(b"0.9", b"0.8")
        return name, content
    _rewrite(archive, flip)
    with pytest.raises(pack.PackError, match="does not match its SHA-256"):
        pack.verify(archive, "quick")


def test_another_profile_or_another_kdviz_is_refused(prepared, tmp_path, monkeypatch):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    with pytest.raises(pack.PackError, match="holds the 'quick' profile.*uses 'full'"):
        pack.verify(archive, "full")
    changed = config.Profile(**{**config.PROFILES["quick"].__dict__, "seeds": (0, 1, 2)})  # same name, other knobs
    with pytest.raises(pack.PackError, match="fingerprint"):
        pack.verify(archive, changed)
    monkeypatch.setattr(pack, "__version__", "99.0")
    with pytest.raises(pack.PackError, match="made by kdviz .*this is kdviz 99.0"):
        pack.verify(archive, "quick")


@pytest.mark.parametrize("name", ["../outside.json", "/etc/kdviz.json", "results/../../outside.json",
                                  "elsewhere/file.json"])
def test_paths_outside_the_folder_are_refused(prepared, tmp_path, name):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    _relist(archive, name, b"{}")
    with pytest.raises(pack.PackError, match="outside the folders"):
        pack.unpack(archive, tmp_path / "target", "quick")
    assert not (tmp_path / "target").exists() and not (tmp_path / "outside.json").exists()
    with pytest.raises(pack.PackError, match="outside the folders"):
        pack.write(tmp_path / "other.tar", {name: root / "results" / "student-abc.json"}, "quick")


def test_links_and_unlisted_members_are_refused(prepared, tmp_path):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    with tarfile.open(archive, "a") as tar:
        link = tarfile.TarInfo("results/link.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(pack.PackError, match="not a plain file"):
        pack.verify(archive, "quick")
    pack.write(archive, {name: root / name for name in files}, "quick")
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("results/unlisted.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(pack.PackError, match="does not list"):
        pack.verify(archive, "quick")


class _Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_a_checkpoint_that_is_not_plain_weights_is_refused(prepared, tmp_path):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    buffer = io.BytesIO()
    torch.save({"weights": _Payload()}, buffer, pickle_module=pickle)
    _relist(archive, "checkpoints/hostile.pt", buffer.getvalue())
    with pytest.raises(pack.PackError, match="does not load as plain weights"):
        pack.verify(archive, "quick")


def test_not_an_archive_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(pack.PackError, match="does not exist"):
        pack.verify(tmp_path / "missing.tar", "quick")
    (tmp_path / "text.tar").write_text("hello")
    with pytest.raises(pack.PackError, match="text.tar"):
        pack.verify(tmp_path / "text.tar", "quick")


def test_the_ledger_lists_each_cached_file_once(isolated_home, tmp_path, monkeypatch):
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv(config.LEDGER_VARIABLE, str(ledger))
    cache.cached_result("demo", {"a": 1}, lambda: {"value": 1})
    cache.cached_result("demo", {"a": 1}, lambda: {"value": 2})  # read back: listed again, kept once
    cache.cached_tensors("tensor", {"b": 2}, lambda: torch.zeros(2))
    used = cache.used_files(ledger)
    assert len(used) == 2 and all(name.startswith("results/") for name in used)
    assert all((isolated_home / name).is_file() for name in used)


def test_an_archive_changed_after_verification_writes_nothing(prepared, tmp_path, monkeypatch):
    root, files = prepared
    archive = tmp_path / "room.tar"
    pack.write(archive, {name: root / name for name in files}, "quick")
    verified = pack.verify(archive, "quick")
    verified["files"][0]["sha256"] = "0" * 64  # as if the archive had been swapped after verify read it
    monkeypatch.setattr(pack, "verify", lambda *args: verified)
    target = tmp_path / "target"
    with pytest.raises(pack.PackError, match="changed after the archive was verified; nothing was written"):
        pack.unpack(archive, target, "quick")
    assert [p for p in target.rglob("*") if p.is_file()] == []
