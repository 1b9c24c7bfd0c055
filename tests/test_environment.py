"""The environment files agree: environment.yml installs requirements.txt, which pins what pyproject needs."""
from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin every package with ==, not {line!r}"
            pins[name.lower()] = version
    return pins


def test_environment_yml_installs_the_pinned_requirements():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*python=3\.11\s*$", text, re.M)
    assert re.search(r"^\s*-\s*-r requirements\.txt\s*$", text, re.M)
    assert re.search(r"^\s*-\s*-e \.\s*$", text, re.M)


def test_every_package_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = pinned()
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!\[ ]", requirement, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is a dependency in pyproject.toml but not pinned in requirements.txt"


def test_torch_and_torchvision_are_a_working_pair():
    pins = pinned()
    assert (pins["torch"], pins["torchvision"]) == ("2.14.1", "0.29.1")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/lab.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_binder_start_script_picks_the_quick_profile_unless_told_otherwise():
    import os
    import subprocess

    environment = {k: v for k, v in os.environ.items() if k != "KDVIZ_PROFILE"}
    run = lambda env: subprocess.run([str(ROOT / "start"), "printenv", "KDVIZ_PROFILE"], env=env,  # noqa: E731
                                     capture_output=True, text=True, check=True).stdout.strip()
    assert run(environment) == "quick"
    assert run({**environment, "KDVIZ_PROFILE": "full"}) == "full"
