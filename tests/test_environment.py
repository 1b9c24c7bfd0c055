"""The environment files agree: environment.yml installs requirements.txt, which pins what pyproject needs."""
from __future__ import annotations

import http.server
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
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


def test_the_launch_scripts_make_relative_folders_absolute(tmp_path):
    """scripts/lab.sh and scripts/lecture.sh start kernels in another folder: a relative KDVIZ_HOME must keep
    naming the folder they were started from, an absolute one stays as it is."""
    script = f'source "{ROOT / "scripts" / "absolute_folders.sh"}"; echo "$KDVIZ_HOME|$KDVIZ_DATA"'
    env = {**os.environ, "KDVIZ_HOME": "cache/here", "KDVIZ_DATA": "/srv/data"}
    printed = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    assert printed == f"{tmp_path}/cache/here|/srv/data"
    for launcher in ("lab.sh", "lecture.sh"):
        assert "absolute_folders.sh" in (ROOT / "scripts" / launcher).read_text()


def test_binder_start_script_picks_the_quick_profile_unless_told_otherwise():
    environment = {k: v for k, v in os.environ.items() if k != "KDVIZ_PROFILE"}
    run = lambda env: subprocess.run([str(ROOT / "start"), "printenv", "KDVIZ_PROFILE"], env=env,  # noqa: E731
                                     capture_output=True, text=True, check=True).stdout.strip()
    assert run(environment) == "quick"
    assert run({**environment, "KDVIZ_PROFILE": "full"}) == "full"


# scripts/torch_source.sh: where setup.sh takes PyTorch from (KDVIZ_TORCH). Each run takes well under a second:
# nothing is installed, and the CPU-only index is a server on the loopback address or a closed port.
linux_only = pytest.mark.skipif(platform.system() != "Linux", reason="elsewhere PyPI's wheels hold no CUDA")


def torch_source(tmp_path: Path, torch: str | None = None, index: str | None = None, nvidia_smi: bool = False, **env: str):
    """Run the script with a python that sees only the given torch version (or none), and an index of our choosing."""
    site = tmp_path / "site"
    if torch:
        (site / f"torch-{torch}.dist-info").mkdir(parents=True)
        (site / f"torch-{torch}.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {torch}\n")
    python = tmp_path / "python"  # no site-packages (-S): only the fake torch above is installed
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if nvidia_smi:
        (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KDVIZ_TORCH")}
    environment.update(env, PATH=f"{bin_dir}{os.pathsep}{environment['PATH']}")
    if index:
        environment["KDVIZ_TORCH_INDEX"] = index
    run = subprocess.run(["bash", str(ROOT / "scripts" / "torch_source.sh"), str(python)], env=environment,
                         capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout.strip(), run.stderr


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/whl/cpu"


@pytest.fixture
def index_url():
    """A stand-in for the CPU-only index: answers every page with 200 on the loopback address."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html></html>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu/"
    server.shutdown()
    server.server_close()


@linux_only
def test_cpu_takes_the_cpu_only_index_when_it_answers(tmp_path, index_url):
    code, out, err = torch_source(tmp_path, index=index_url, KDVIZ_TORCH="cpu")
    assert (code, out) == (0, f"cpu {index_url.rstrip('/')}")
    assert "CPU-only wheels of torch 2.14.1" in err


@linux_only
def test_cpu_falls_back_to_pypi_with_a_message_when_the_index_cannot_be_reached(tmp_path):
    url = closed_port_url()
    code, out, err = torch_source(tmp_path, index=url, KDVIZ_TORCH="cpu")
    assert (code, out) == (0, "pypi")
    assert f"cannot reach {url}" in err and "falling back to PyPI's wheels" in err and "CUDA" in err


@linux_only
def test_auto_picks_cpu_without_an_nvidia_driver_and_cuda_with_one(tmp_path, index_url):
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    code, out, err = torch_source(tmp_path, index=index_url)
    assert (code, out.split()[0]) == (0, "cpu") and "no NVIDIA GPU found" in err
    code, out, err = torch_source(tmp_path, index=index_url, nvidia_smi=True)
    assert (code, out) == (0, "pypi") and "NVIDIA driver was found" in err


@linux_only
def test_auto_keeps_the_build_already_installed_without_asking_the_index(tmp_path):
    url = closed_port_url()
    code, out, err = torch_source(tmp_path, torch="2.14.1+cpu", index=url)
    assert (code, out) == (0, f"cpu {url}") and "cannot reach" not in err  # a rerun offline needs no index
    code, out, err = torch_source(tmp_path / "cuda", torch="2.14.1", index=url)
    assert (code, out) == (0, "pypi") and "keeping the cuda build" in err


@linux_only
def test_an_explicit_choice_replaces_the_build_installed(tmp_path, index_url):
    code, out, _ = torch_source(tmp_path, torch="2.14.1", index=index_url, KDVIZ_TORCH="cpu")
    assert (code, out.split()[0]) == (0, "cpu")
    code, out, _ = torch_source(tmp_path / "other", torch="2.14.1+cpu", index=index_url, KDVIZ_TORCH="cuda")
    assert (code, out) == (0, "pypi")


def test_a_misspelt_choice_is_an_error(tmp_path):
    code, out, err = torch_source(tmp_path, KDVIZ_TORCH="gpu")
    assert code == 2 and out == "" and "KDVIZ_TORCH must be auto, cpu or cuda" in err


def test_setup_reads_the_torch_pins_it_installs_the_cpu_only_builds_of():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/torch_source.sh" in setup and '"torch==$torch_pin+cpu" "torchvision==$vision_pin+cpu"' in setup
    pins = pinned()
    for name in ("torch", "torchvision"):
        line = subprocess.run(["sed", "-n", rf"s/^{name}==\([^[:space:]#]*\).*/\1/p", str(ROOT / "requirements.txt")],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert line == pins[name]
