"""A prepared cache that travels: one archive with a manifest, written by ``python -m kdviz prepare --pack FILE``
and checked whole by ``python -m kdviz unpack FILE`` before anything in it is used."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import torch

from kdviz import __version__, cache, config

MANIFEST = "manifest.json"
FORMAT = 1
KINDS = ("checkpoints", "results", "data")  # the folders an archive may hold, laid out as under KDVIZ_HOME


class PackError(ValueError):
    """An archive that must not be used: truncated, tampered with, made for another profile or another kdviz, or
    holding paths outside its folder."""


def profile_fingerprint(profile: config.Profile) -> str:
    """The fingerprint of every field of a profile: an archive is only used under the very same profile."""
    return profile.fingerprint(*(name for name in profile.__dataclass_fields__ if name != "name"))


def _sha256(stream: io.BufferedIOBase) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _safe_member_path(name: str) -> PurePosixPath:
    """A relative path inside one of :data:`KINDS`, or a :class:`PackError`."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] not in KINDS or len(path.parts) < 2:
        raise PackError(f"it holds the path {name!r}, outside the folders {list(KINDS)} an archive may fill")
    return path


def write(archive: Path, files: Mapping[str, Path], profile: config.Profile | str | None = None) -> dict:
    """Pack ``files`` ({name in the archive, e.g. ``checkpoints/teacher-...pt``: the file to read}) with a manifest
    of their SHA-256, the kdviz version and the profile's fingerprint into ``archive`` (tar, written atomically).
    Returns the manifest."""
    profile = config.get_profile(profile)
    sources = {str(_safe_member_path(name)): Path(path) for name, path in files.items()}
    names = sorted(sources)
    entries = []
    for name in names:
        with open(sources[name], "rb") as stream:
            digest, size = _sha256(stream)
        entries.append({"path": name, "sha256": digest, "bytes": size})
    manifest = {"format": FORMAT, "kdviz": __version__, "profile": profile.name,
                "profile_fingerprint": profile_fingerprint(profile), "torch": torch.__version__, "files": entries}

    def write_tar(stream: io.BufferedIOBase) -> None:
        with tarfile.open(fileobj=stream, mode="w") as tar:
            body = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            for name in names:
                tar.add(sources[name], arcname=name, recursive=False)

    cache.atomic_write(Path(archive), write_tar)
    return manifest


def _read_manifest(tar: tarfile.TarFile, source: Path) -> tuple[dict, tarfile.TarInfo]:
    """The manifest (the archive's first member) and that member."""
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise PackError(f"{source} is not a kdviz archive: its first member must be {MANIFEST}")
    try:
        manifest = json.loads(tar.extractfile(first).read())
        listed = {entry["path"]: entry for entry in manifest["files"]}
        fields = [manifest[key] for key in ("format", "kdviz", "profile", "profile_fingerprint")]
    except (KeyError, TypeError, ValueError) as error:
        raise PackError(f"{source} has a damaged manifest ({type(error).__name__}: {error})") from error
    if fields[0] != FORMAT:
        raise PackError(f"{source} is in archive format {fields[0]!r}; this kdviz reads format {FORMAT}")
    return {**manifest, "listed": listed}, first


def verify(archive: Path, profile: config.Profile | str | None = None) -> dict:
    """Read the whole archive and check it without writing anything: its manifest, that it was made by this kdviz
    for ``profile`` (default: the current one), that every member is a plain file inside its folder and listed,
    that every listed file is present with its SHA-256 and size, and that every ``.pt`` file loads with
    ``weights_only=True``. Returns the manifest; raises :class:`PackError` naming the archive otherwise."""
    source = Path(archive)
    profile = config.get_profile(profile)
    if not source.is_file():
        raise PackError(f"{source} does not exist")
    try:
        with tarfile.open(source, mode="r:") as tar:
            manifest, first = _read_manifest(tar, source)
            if manifest["kdviz"] != __version__:
                raise PackError(f"{source} was made by kdviz {manifest['kdviz']}; this is kdviz {__version__}: "
                                "prepare it again with this version")
            if manifest["profile"] != profile.name or manifest["profile_fingerprint"] != profile_fingerprint(profile):
                raise PackError(f"{source} holds the {manifest['profile']!r} profile (fingerprint "
                                f"{manifest['profile_fingerprint']}); this session uses {profile.name!r} (fingerprint "
                                f"{profile_fingerprint(profile)}): set {config.PROFILE_VARIABLE} or prepare again")
            expected, seen = manifest.pop("listed"), set()
            for member in tar:
                if member is first:
                    continue
                path = str(_safe_member_path(member.name))
                if not member.isfile():
                    raise PackError(f"{source} holds {member.name!r}, which is not a plain file (a link or a device)")
                if path not in expected or path in seen:
                    raise PackError(f"{source} holds {member.name!r}, which its manifest does not list once")
                content = tar.extractfile(member).read()
                if hashlib.sha256(content).hexdigest() != expected[path]["sha256"] or len(content) != expected[path]["bytes"]:
                    raise PackError(f"{source}: {path} does not match its SHA-256 in the manifest: the archive was "
                                    "changed or damaged")
                if path.endswith(".pt"):
                    try:
                        torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
                    except Exception as error:
                        raise PackError(f"{source}: {path} does not load as plain weights ({error})") from error
                seen.add(path)
            missing = sorted(set(expected) - seen)
            if missing:
                raise PackError(f"{source} is truncated: {len(missing)} listed files are missing, first {missing[0]}")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise PackError(f"{source} cannot be read as an archive ({type(error).__name__}: {error}): it is truncated "
                        "or damaged") from error
    return manifest


def unpack(archive: Path, into: Path | None = None, profile: config.Profile | str | None = None) -> dict:
    """Verify the whole archive (:func:`verify`), then write its files into ``into`` (default ``KDVIZ_HOME``).
    Each file is checked again against the verified manifest as it is read (the archive could change between the
    two readings) and written into a folder beside the target first; only when all of them are there are they
    moved into place. The folder then serves as ``KDVIZ_HOME`` or, read-only, as ``KDVIZ_DATA``."""
    manifest = verify(archive, profile)
    expected = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    target = Path(into).expanduser().resolve() if into else config.home_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".unpacking-") as scratch:
        staged = []
        with tarfile.open(archive, mode="r:") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                path = str(_safe_member_path(member.name))
                content = tar.extractfile(member).read()
                if expected.pop(path, None) != hashlib.sha256(content).hexdigest():
                    raise PackError(f"{archive}: {path} changed after the archive was verified; nothing was written")
                (Path(scratch) / path).parent.mkdir(parents=True, exist_ok=True)
                (Path(scratch) / path).write_bytes(content)
                staged.append(path)
        if expected:
            raise PackError(f"{archive} lost {len(expected)} files after it was verified; nothing was written")
        for path in staged:
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(scratch) / path, target / path)  # same file system: each file appears whole
    manifest["into"] = str(target)
    return manifest
