"""kdviz.prepare and kdviz.runner: data fetched and shared, notebooks run in a kernel, failures reported."""
from __future__ import annotations

import asyncio
import os
import stat
import time
from dataclasses import replace
from pathlib import Path
from queue import Empty

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import unchecked, write_fake_dataset
from kdviz import __main__ as cli
from kdviz import cache, config, data, distillation_runs, pack, pareto_runs, pipeline_runs, plan, prepare, runner


def _notebook(folder, name: str, source: str):
    path = folder / name
    nbformat.write(new_notebook(cells=[new_code_cell(source)]), path)
    return path


MARKER = """
from kdviz import cache, config
cache.cached_result("ran", {"profile": config.get_profile().name}, lambda: {"ran": True})
"""


def _ran(home, profile: str = "quick") -> bool:
    """Whether a MARKER notebook ran in ``profile`` with ``home`` as its KDVIZ_HOME."""
    return (home / "results" / f"ran-{cache.key({'profile': profile})}.json").is_file()


@pytest.fixture
def fake_data(isolated_home, monkeypatch):
    write_fake_dataset(isolated_home / "data" / "fashion-mnist")
    info = data.DATASETS["fashion-mnist"]
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", unchecked(info))
    monkeypatch.setattr(data, "DEBIAN_DIR", isolated_home / "no-debian")
    data._load_cached.cache_clear()
    yield isolated_home
    data._load_cached.cache_clear()


def test_prepare_into_a_folder_makes_a_read_only_kdviz_data(fake_data, tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    good = _notebook(notebooks, "00_good.ipynb", MARKER)
    shared = tmp_path / "shared"
    report = prepare.prepare("quick", into=shared, notebooks=[good], allow_download=False, progress=False, jobs=[])
    assert [row["ok"] for row in report] == [True, True, True, True, True], report
    assert [row["step"].split()[0] for row in report] == ["data:", "notebook:", "gather", "verify", "total"]
    assert "computed 1 cached files itself" in report[1]["detail"]
    assert _ran(shared)  # the kernel wrote into the shared folder
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
    report = prepare.prepare("quick", notebooks=[broken, good], allow_download=False, progress=False, jobs=[])
    assert [row["ok"] for row in report] == [True, False, True, True, False]
    archive = tmp_path / "room.tar"
    report = prepare.prepare("quick", notebooks=[broken], allow_download=False, progress=False, jobs=[], pack=archive)
    assert "not written" in report[-2]["detail"] and not archive.exists()
    assert "this cell is broken" in report[1]["detail"]
    assert "failed" in prepare.summary(report)
    assert _ran(fake_data)


def test_missing_data_stops_with_the_way_to_get_it(isolated_home, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nothing")
    data._load_cached.cache_clear()
    report = prepare.prepare("quick", notebooks=[], allow_download=False, progress=False)
    assert [row["ok"] for row in report] == [False, False] and report[-1]["step"] == "total"
    assert "apt-get install dataset-fashion-mnist" in report[0]["detail"]


def test_runner_sets_the_profile_and_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(config.PROFILE_VARIABLE, raising=False)
    path = _notebook(tmp_path, "00_profile.ipynb", "import os\nprint(os.environ['KDVIZ_PROFILE'])")
    seconds, peak = runner.execute(path, "quick", write=True)
    assert seconds > 0 and (peak is None or peak > 0)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip() == "quick"
    assert config.PROFILE_VARIABLE not in os.environ
    with pytest.raises(FileNotFoundError, match="clone of the repository"):
        runner.notebooks(tmp_path / "nowhere")


def test_relative_folders_are_the_callers_not_the_kernels(tmp_path, monkeypatch):
    """A kernel runs in its notebook's folder: a relative KDVIZ_HOME or KDVIZ_DATA must still mean the folder the
    caller named, where the summary and ``info`` look."""
    caller = tmp_path / "caller"
    (caller / "shared").mkdir(parents=True)
    monkeypatch.chdir(caller)
    monkeypatch.setenv(config.HOME_VARIABLE, "home")
    monkeypatch.setenv(config.DATA_VARIABLE, "shared")
    (tmp_path / "notebooks").mkdir()
    path = _notebook(tmp_path / "notebooks", "00_where.ipynb",
                     "from kdviz import config\nprint(config.home_dir())\nprint(config.shared_data_dir())")
    runner.execute(path, "quick", write=True)
    printed = nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].split()
    assert printed == [str(caller / "home"), str(caller / "shared")]
    assert os.environ[config.HOME_VARIABLE] == "home"  # this process's own environment is left as it was


def test_cli_selects_notebooks_by_number(monkeypatch, capsys):
    assert cli.main(["prepare", "--notebooks", "99"]) == 2
    assert "no notebook starts with ['99']" in capsys.readouterr().err
    chosen = []
    monkeypatch.setattr(prepare, "prepare", lambda profile, **kw: chosen.append((profile, kw["notebooks"])) or [])
    assert cli.main(["prepare", "--profile", "quick", "--notebooks", "02"]) == 0
    assert chosen[0][0] == "quick" and [p.name for p in chosen[0][1]] == ["02_pruning.ipynb"]
    assert cli.main(["prepare", "--profile", "Quick", "--notebooks", "02"]) == 0  # as KDVIZ_PROFILE=Quick is
    assert chosen[1][0] == "quick"


CACHED_RESULT = """
from kdviz import cache
cache.cached_result("demo", {"profile": "quick"}, lambda: {"value": 42})
"""


def test_prepare_packs_what_the_notebooks_used_and_the_data(fake_data, tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    path = _notebook(notebooks, "00_result.ipynb", CACHED_RESULT)
    cache.cached_result("unused", {"profile": "quick"}, lambda: {"value": 0})  # in the cache, but no notebook reads it
    archive = tmp_path / "room.tar"
    report = prepare.prepare("quick", notebooks=[path], allow_download=False, progress=False, jobs=[], pack=archive)
    assert all(row["ok"] for row in report), report
    assert any(row["step"].startswith("pack:") and "MB" in row["detail"] for row in report)
    names = [entry["path"] for entry in pack.verify(archive, "quick")["files"]]
    assert sum(name.startswith("results/demo-") for name in names) == 1
    assert not any(name.startswith("results/unused-") for name in names)
    assert sum(name.startswith("data/fashion-mnist/") for name in names) == 4
    target = tmp_path / "room"
    pack.unpack(archive, target, "quick")
    assert sorted(p.name for p in (target / "data" / "fashion-mnist").iterdir()) == sorted(
        p.name for p in (fake_data / "data" / "fashion-mnist").iterdir())


def test_the_plan_names_every_job_once_and_waits_only_for_its_own_jobs():
    for profile in config.PROFILES.values():
        jobs = plan.jobs(profile)
        names = [job.name for job in jobs]
        assert len(names) == len(set(names))
        assert all(set(job.waits_for) <= set(names) for job in jobs)
        assert jobs[0].name == plan.TEACHER and all(name[:2] in {"00", "01", "02", "03", "04", "05"} for name in names)
        distilled = [job for job in jobs if job.module == "distillation_runs" and job.function == "run_student"
                     and job.kwargs["run"].method == "distilled"]
        assert distilled and all(job.waits_for == ((plan.TEACHER_HINTS, plan.TEACHER_LOGITS) if job.kwargs["run"].hint_epochs
                                                   else (plan.TEACHER_LOGITS,)) for job in distilled)
        hinted = [job for job in jobs if job.function == "run_student" and job.kwargs["run"].hint_epochs]
        assert len(hinted) == 4 * len(profile.seeds) and all(plan.TEACHER_HINTS in job.waits_for for job in hinted)
        sweep = {job.name for job in jobs if job.kwargs.get("run") in distillation_runs.sweep_cells(profile).values()}
        recommended = [job for job in jobs if job.function in ("pruned_recommended", "chart_student_result",
                                                               "best_cell_over_seeds")]
        assert len(sweep) == len(distillation_runs.sweep_cells(profile))
        assert all(set(job.waits_for) == sweep for job in recommended if job.kwargs.get("method") != "scratch")


def test_scratch_students_that_differ_only_in_t_and_alpha_are_one_run():
    runs = plan.student_runs(config.get_profile("full"))
    scratch = [run for run in runs.values() if run.method == "scratch"]
    keys = {str(sorted(distillation_runs.cache_settings(run).items())) for run in scratch}
    assert len(keys) == len(scratch)  # no two listed scratch runs would share a cache entry
    assert not any(run.width == 8 and run.labels is None and run.seed == 0 and run.T != 8.0 for run in scratch)


def test_jobs_for_some_notebooks_bring_the_jobs_they_wait_for():
    chosen = prepare._jobs_for(config.get_profile("quick"), [Path("notebooks/04_knowledge_distillation.ipynb")])
    names = [job.name for job in chosen]
    assert plan.TEACHER in names and plan.TEACHER_LOGITS in names
    assert all(name[:2] in {"00", "04"} for name in names) and not any(name.startswith("00 mlp") for name in names)


def test_jobs_run_side_by_side_in_their_own_processes(real_fashion_mnist, isolated_home, tmp_path, monkeypatch):
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv(config.LEDGER_VARIABLE, str(ledger))
    jobs = [plan.Job("02 tiny net", "train", "load_or_train", {"name": "tiny_mlp", "seed": 0}),
            plan.Job("00 mlp", "train", "load_or_train", {"name": "mlp", "seed": 0}, after="02 tiny net"),
            plan.Job("00 tiny net, seed 1", "train", "load_or_train", {"name": "tiny_mlp", "seed": 1})]
    finished = plan.run(jobs, "quick", workers=2)
    order = [outcome.name for outcome in finished]
    assert sorted(order) == sorted(job.name for job in jobs) and order.index("02 tiny net") < order.index("00 mlp")
    assert all(outcome.seconds > 0 and outcome.error is None for outcome in finished)
    written = sorted(p.name for p in (isolated_home / "checkpoints").glob("*.pt"))
    assert len(written) == 3 and len(cache.used_files(ledger)) == 3


def test_the_best_sweep_cell_on_validation_is_trained_again_over_every_seed(small_world, monkeypatch):
    profile = replace(small_world, sweep_temperatures=(2.0, 8.0), sweep_alphas=(0.5,), seeds=(0, 1))
    summary = distillation_runs.best_cell_over_seeds(profile, progress=False)
    results = {cell: distillation_runs.run_student(run, profile) for cell, run in distillation_runs.sweep_cells(profile).items()}
    sweep = {cell: result["validation_accuracy"] for cell, result in results.items()}
    best = max(sweep, key=sweep.get)
    assert distillation_runs.best_cell(profile) == best and distillation_runs.sweep(profile) == sweep
    recommended = pipeline_runs.recommended(profile, seed=1)  # notebook 05's pipeline takes that recipe
    assert (recommended.T, recommended.alpha, recommended.seed) == (*best, 1)
    assert replace(recommended, T=2.0, alpha=0.5, seed=0) == pipeline_runs.Pipeline()  # nothing else differs
    assert pareto_runs.chart_student(16, "distilled", profile).T == best[0]
    runs = [distillation_runs.run_student(distillation_runs.StudentRun(width=8, T=best[0], alpha=best[1], epochs=10,
                                                                       seed=seed), profile)["accuracy"] for seed in (0, 1)]
    assert summary["distilled"]["runs"] == runs and len(summary["scratch"]["runs"]) == 2


def test_a_failing_job_is_reported_its_dependents_skipped_and_the_others_run(real_fashion_mnist, isolated_home):
    jobs = [plan.Job("02 broken", "train", "load_or_train", {"name": "no_such_model", "seed": 0}),
            plan.Job("02 after the broken one", "train", "load_or_train", {"name": "tiny_mlp", "seed": 0},
                     after="02 broken"),
            plan.Job("02 independent", "train", "load_or_train", {"name": "tiny_mlp", "seed": 1})]
    outcomes = {outcome.name: outcome for outcome in plan.run(jobs, "quick", workers=2)}
    assert "name must be one of" in outcomes["02 broken"].error
    assert outcomes["02 after the broken one"].error.startswith("skipped: it waits for '02 broken'")
    assert outcomes["02 independent"].error is None
    assert [p.name.split("-")[0] for p in (isolated_home / "checkpoints").glob("*.pt")] == ["tiny_mlp"]


def test_ready_jobs_run_in_the_plans_order_not_the_order_they_became_ready(monkeypatch):
    started = []
    monkeypatch.setattr(plan, "ProcessPoolExecutor", _InlinePool)
    monkeypatch.setattr(plan, "run_job", lambda job, profile: started.append(job.name) or 0.0)
    jobs = [plan.Job("00 first", "train", "f"), plan.Job("01 waits for the first", "train", "f", after="00 first"),
            plan.Job("02 free", "train", "f"), plan.Job("03 free", "train", "f")]
    plan.run(jobs, "quick", workers=1)
    assert started == ["00 first", "01 waits for the first", "02 free", "03 free"]


def test_the_plan_tells_how_many_workers_have_no_job_ready(monkeypatch):
    spare = []
    monkeypatch.setattr(plan, "ProcessPoolExecutor", _InlinePool)
    monkeypatch.setattr(plan, "run_job", lambda job, profile: 0.0)
    jobs = [plan.Job("00 first", "train", "f"), plan.Job("01 waits for the first", "train", "f", after="00 first")]
    plan.run(jobs, "quick", workers=2, spare=spare.append)
    assert spare == [1, 1, 2]  # one job at a time can run, then both workers are free


def test_a_notebook_starts_once_its_jobs_have_ended_and_a_worker_is_spare(tmp_path, monkeypatch):
    started = []

    def execute(path, profile, home, before, variables, ledger):
        started.append(path.name)
        return {"step": f"notebook: {path.name}", "ok": True, "seconds": 0.0, "detail": "ran"}

    monkeypatch.setattr(prepare, "_execute", execute)
    waits, free = tmp_path / "00_waits.ipynb", tmp_path / "01_free.ipynb"
    notebooks = prepare._Notebooks({waits: {"00 job"}, free: set()}, config.get_profile("quick"), tmp_path, 1,
                                   tmp_path, progress=False)
    time.sleep(0.3)
    assert started == []  # the jobs hold every worker
    notebooks.jobs_over(1)
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert started == ["01_free.ipynb"]  # the other one waits for its job
    notebooks.job_ended("00 job")
    rows = notebooks.rows()
    assert started == ["01_free.ipynb", "00_waits.ipynb"]
    assert [row["step"] for row in rows] == ["notebook: 00_waits.ipynb", "notebook: 01_free.ipynb"]


class _InlinePool:
    """A pool that runs each job when it is submitted, in this process."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, function, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(function(*args))
        return future


def test_a_damaged_copy_already_in_the_folder_is_replaced_not_trusted_for_its_size(fake_data, tmp_path):
    shared = tmp_path / "shared"
    prepare.prepare("quick", into=shared, notebooks=[], allow_download=False, progress=False, jobs=[])
    victim = next((shared / "fashion-mnist").iterdir())
    original = victim.read_bytes()
    victim.write_bytes(bytes(len(original)))  # same size, all zeros
    report = prepare.prepare("quick", into=shared, notebooks=[], allow_download=False, progress=False, jobs=[])
    assert all(row["ok"] for row in report) and victim.read_bytes() == original


def test_into_a_new_folder_copies_what_an_older_prepared_folder_held(fake_data, tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    path = _notebook(notebooks, "00_result.ipynb", CACHED_RESULT)
    older = tmp_path / "older"
    prepare.prepare("quick", into=older, notebooks=[path], allow_download=False, progress=False, jobs=[])
    monkeypatch.setenv(config.DATA_VARIABLE, str(older))  # the room's old folder is still set
    new = tmp_path / "new"
    report = prepare.prepare("quick", into=new, notebooks=[path], allow_download=False, progress=False, jobs=[])
    assert all(row["ok"] for row in report), report
    gather = next(row for row in report if row["step"].startswith("gather"))
    assert gather["detail"] == "1 cached files copied from other folders"
    assert len(list((new / "results").glob("demo-*.json"))) == 1


def test_verify_names_what_does_not_load(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "good.json").write_text('{"result": {}}')
    (tmp_path / "results" / "list.json").write_text("[1, 2]")
    (tmp_path / "results" / "bad.pt").write_bytes(b"not torch")
    row = prepare._verify(tmp_path, ["results/good.json", "results/list.json", "results/bad.pt", "checkpoints/gone.pt"])
    assert not row["ok"] and row["detail"].startswith("3 of 4 cached files do not load from it")
    assert "results/list.json (not a stored result)" in row["detail"] and "checkpoints/gone.pt (missing)" in row["detail"]


CTRL_C_RUN = """
import sys, time
from pathlib import Path
import psutil
from kdviz import prepare
workers, notebooks = int(sys.argv[1]), [Path(name) for name in sys.argv[2:]]
try:
    print(prepare.summary(prepare.prepare("quick", notebooks=notebooks, allow_download=False, progress=False, jobs=[],
                                          workers=workers)))
except prepare.Interrupted as stopped:
    print(prepare.summary(stopped.report))
    time.sleep(1)  # a killed kernel is gone within this
    left = [child for child in psutil.Process().children(recursive=True) if child.status() != psutil.STATUS_ZOMBIE]
    print(f"kernels left running: {len(left)}")
    sys.exit(130)
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_prepare_at_once_and_says_how_to_resume(real_fashion_mnist, isolated_home, tmp_path, workers):
    import signal
    import subprocess
    import sys

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    started = [tmp_path / f"started-{number}" for number in range(workers)]
    slow = [_notebook(notebooks, f"0{number}_slow.ipynb", f"import pathlib, time\n"
                      f"pathlib.Path({str(path)!r}).touch()\ntime.sleep(60)")
            for number, path in enumerate(started)]
    after = _notebook(notebooks, f"0{workers}_after.ipynb", MARKER)
    script = tmp_path / "run.py"
    script.write_text(CTRL_C_RUN)
    environment = {**os.environ, "KDVIZ_HOME": str(isolated_home), "KDVIZ_PROFILE": "quick"}
    process = subprocess.Popen([sys.executable, str(script), str(workers), *map(str, slow), str(after)],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True,  # Ctrl-C as in a terminal, even where the suite runs under nohup
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not all(path.exists() for path in started) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert all(path.exists() for path in started), process.communicate()[0]
    pressed = time.monotonic()
    os.kill(process.pid, signal.SIGINT)  # to prepare alone (Ctrl-C in a terminal reaches the kernels too)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert time.monotonic() - pressed < 30  # at once, not after the 60 s cells
    assert "stopped by Ctrl-C" in output and "run the same command again" in output
    assert not _ran(isolated_home)  # the next notebook never started
    assert "kernels left running: 0" in output  # every running kernel was stopped, not left sleeping


def test_into_a_file_is_said_in_the_summary_not_a_traceback(fake_data, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    report = prepare.prepare("quick", into=occupied, notebooks=[], allow_download=False, progress=False, jobs=[])
    assert [row["ok"] for row in report] == [False, False]
    assert "--into must be a folder this user can write" in report[0]["detail"]
    assert "some steps failed" in prepare.summary(report, occupied)


def test_a_reply_that_a_long_wait_would_miss_is_found_by_waiting_in_slices():
    class Channel:  # a reply that only a fresh look finds (a long wait on the socket would not wake for it)
        def __init__(self, found_on_look: int) -> None:
            self.looks, self.found_on_look, self.timeouts = 0, found_on_look, []

        async def get_msg(self, timeout=None):
            self.looks += 1
            self.timeouts.append(timeout)
            if self.looks >= self.found_on_look:
                return {"msg_type": "execute_reply"}
            raise Empty

    channel = Channel(found_on_look=3)
    runner.poll_in_slices(channel, slice_seconds=0.01)
    assert asyncio.run(channel.get_msg(timeout=None)) == {"msg_type": "execute_reply"}
    assert channel.looks == 3 and all(t == 0.01 for t in channel.timeouts)
    never = Channel(found_on_look=10**9)
    runner.poll_in_slices(never, slice_seconds=0.01)
    started = time.monotonic()
    with pytest.raises(Empty):  # the caller's deadline still holds
        asyncio.run(never.get_msg(timeout=0.05))
    assert 0.05 <= time.monotonic() - started < 1 and never.looks >= 3
