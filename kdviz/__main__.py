"""Command line: ``python -m kdviz info``, ``data``, ``prepare`` and ``unpack``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kdviz import config, data, pack, prepare, runner, train


def info() -> int:
    """Print the profile, device, folders, where each data set is found, and the cached checkpoints."""
    print(f"profile: {config.get_profile().name}   device: {config.pick_device()}")
    print(f"KDVIZ_HOME: {config.home_dir()}   KDVIZ_DATA: {config.shared_data_dir() or '(not set)'}")
    for name in data.DATASETS:
        found = [data.find_files(name, split) for split in data.SPLITS]
        if not all(found):
            print(f"{name}: not found")
            continue
        try:
            for split in data.SPLITS:
                data.load(name, split, allow_download=False)
            print(f"{name}: {found[0][0].parent} (verified)")
        except (data.DataNotFoundError, data.CorruptDataError) as error:
            print(f"{name}: found in {found[0][0].parent}, but unusable: {error}")
    for folder in train.checkpoint_folders():
        files = sorted(folder.glob("*.pt")) if folder.is_dir() else []
        print(f"checkpoints in {folder}: {len(files)}")
        for path in files:
            print(f"  {path.name}")
    return 0


def fetch_data(name: str, allow_download: bool) -> int:
    """Make a data set available and load it once to verify it."""
    try:
        folders = data.ensure_available(name, allow_download)
        for split in data.SPLITS:
            images, _ = data.load(name, split, allow_download=False)
            print(f"{name} {split}: {len(images):,} images verified in {folders[data.SPLITS.index(split)]}")
    except (data.DataNotFoundError, data.CorruptDataError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def prepare_workshop(profile: str, into: Path | None, selected: list[str], allow_download: bool,
                     workers: int | None = None, archive: Path | None = None) -> int:
    """Fetch the data, train and run the notebooks (all, or those whose names start with ``selected``), and pack
    what they used into ``archive`` if given."""
    paths = [p for p in runner.notebooks() if not selected or any(p.name.startswith(s) for s in selected)]
    if not paths:
        print(f"no notebook starts with {selected}; the notebooks are: "
              f"{', '.join(p.name for p in runner.notebooks())}", file=sys.stderr)
        return 2
    try:
        report = prepare.prepare(profile, into=into, notebooks=paths, allow_download=allow_download, workers=workers,
                                 pack=archive)
    except prepare.Interrupted as stopped:
        print(prepare.summary(stopped.report, into))
        return 130  # the shell's code for a command stopped by Ctrl-C
    print(prepare.summary(report, into))
    return 0 if all(row["ok"] for row in report) else 1


def unpack_archive(archive: Path, into: Path | None, profile: str | None) -> int:
    """Verify a prepared archive whole, then write its files; a refused archive says why and writes nothing."""
    try:
        manifest = pack.unpack(archive, into, profile)
    except pack.PackError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    print(f"{len(manifest['files'])} files of the {manifest['profile']!r} profile verified and written to "
          f"{manifest['into']}: use it as KDVIZ_HOME, or read-only as KDVIZ_DATA")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdviz", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="profile, device, data and checkpoints found")
    data_parser = commands.add_parser("data", help="find or download a data set and verify it")
    data_parser.add_argument("--name", default="fashion-mnist", choices=sorted(data.DATASETS))
    data_parser.add_argument("--no-download", action="store_true", help="only look for local copies")
    prepare_parser = commands.add_parser("prepare", help="fetch the data and train and cache everything the "
                                                         "notebooks use, ahead of a workshop")
    prepare_parser.add_argument("--profile", default="full", type=str.lower, choices=sorted(config.PROFILES))
    prepare_parser.add_argument("--into", type=Path, help="a folder to fill for KDVIZ_DATA (default: KDVIZ_HOME)")
    prepare_parser.add_argument("--notebooks", nargs="*", default=[], metavar="NN",
                                help="only the notebooks whose names start with these (e.g. 00 02)")
    prepare_parser.add_argument("--no-download", action="store_true", help="only look for local copies of the data")
    prepare_parser.add_argument("--workers", type=_positive, help="jobs, then notebooks, side by side (default: one "
                                                                   "per core on a CPU, one on a GPU)")
    prepare_parser.add_argument("--pack", type=Path, metavar="FILE", help="also write everything prepared into "
                                                                          "one archive, for python -m kdviz unpack")
    unpack_parser = commands.add_parser("unpack", help="verify a prepared archive and write its files")
    unpack_parser.add_argument("archive", type=Path)
    unpack_parser.add_argument("--into", type=Path, help="the folder to fill (default: KDVIZ_HOME)")
    unpack_parser.add_argument("--profile", type=str.lower, choices=sorted(config.PROFILES),
                               help="the profile it must hold (default: KDVIZ_PROFILE's)")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "info":
            return info()
        if arguments.command == "prepare":
            return prepare_workshop(arguments.profile, arguments.into, arguments.notebooks, not arguments.no_download,
                                    arguments.workers, arguments.pack)
        if arguments.command == "unpack":
            return unpack_archive(arguments.archive, arguments.into, arguments.profile)
        return fetch_data(arguments.name, not arguments.no_download)
    except ValueError as error:  # a bad setting (profile, device, folder): say which, without a traceback
        print(f"python -m kdviz {arguments.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
