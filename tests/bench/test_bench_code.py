"""The benchmark code itself (never timing): its job and curve lists, its arithmetic and its plot
writer, on tiny inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import real, run, scaling
from bench.runners import RUNNERS


def test_real_jobs_are_the_issues_table() -> None:
    names = [job.name for job in real.JOBS]
    assert len(names) == len(set(names)) == 9
    for job in real.JOBS:
        assert job.command and job.quick
        assert real.job_argv(job, quick=True) == ["/bin/sh", "-c", job.quick]
        assert real.job_argv(job, quick=False) == ["/bin/sh", "-c", job.command]


def test_words_are_deterministic_and_sized(tmp_path: Path) -> None:
    first = real.write_words(tmp_path / "a", 1)
    second = real.write_words(tmp_path / "b", 1)
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size >= 1 << 20
    assert all(word.isalpha() for word in first.read_text().split()[:1000])


def test_curve_points_have_quick_subsets() -> None:
    for curve in scaling.CURVES:
        assert curve.quick_sizes and set(curve.quick_sizes) <= set(curve.sizes) | set(curve.quick_sizes)
        argv = curve.argv(curve.sizes[0], quick=True)
        assert argv[:3] == ["/scaling", curve.kind, str(curve.sizes[0])]
        assert int(argv[3]) >= 1
    with pytest.raises(KeyError):
        scaling.by_name(["no-such-curve"])


def test_slope_of_power_laws() -> None:
    assert scaling.slope([(1, 5.0), (10, 5.0), (100, 5.0)]) == pytest.approx(0.0)
    assert scaling.slope([(1, 2.0), (10, 20.0), (100, 200.0)]) == pytest.approx(1.0)
    assert scaling.slope([(4, 1.0)]) is None


def test_worse_than_runsc_names_the_steeper_curve() -> None:
    cost = scaling.CURVES[0]
    assert cost.lower_is_better
    flat = [(1, 10.0), (100, 10.0)]
    linear = [(1, 10.0), (100, 1000.0)]
    assert scaling.worse_than_runsc(cost, {"sentrio": linear, "runsc": flat})
    assert not scaling.worse_than_runsc(cost, {"sentrio": flat, "runsc": linear})
    throughput = next(curve for curve in scaling.CURVES if not curve.lower_is_better)
    falling = [(1, 1000.0), (100, 10.0)]
    assert scaling.worse_than_runsc(throughput, {"sentrio": falling, "runsc": flat})
    assert "**yes**" in scaling.summary_table([(cost, {"sentrio": linear, "runsc": flat})], ["runsc", "sentrio"])


def test_plot_writer_draws_a_png(tmp_path: Path) -> None:
    points = {"native": [(1, 1.0), (10, 2.0)], "sentrio": [(1, 3.0), (10, 9.0)], "runsc": []}
    path = scaling.write_plot(scaling.CURVES[0], points, tmp_path / "plots" / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000


def test_sentrio_tree_option_adds_a_runner(tmp_path: Path) -> None:
    tree = Path(__file__).resolve().parents[2]
    args = run.parse_args(["--only", "sentrio", "--sentrio-tree", f"before={tree}"])
    _, runners = run.select(args.only, args.sentrio_tree)
    assert [runner.name for runner in runners] == ["sentrio", "sentrio@before"]
    assert runners[1].cwd == tree
    with pytest.raises(SystemExit):
        run.parse_args(["--sentrio-tree", f"x={tmp_path}"])  # not a checkout
    assert {runner.name for runner in RUNNERS} == {"native", "runsc", "sentrio", "served"}


def test_served_tree_option_adds_a_served_runner_with_its_own_zygote(tmp_path: Path) -> None:
    tree = Path(__file__).resolve().parents[2]
    args = run.parse_args(["--only", "served", "--served-tree", f"before={tree}"])
    _, runners = run.select(args.only, args.sentrio_tree)
    assert [(runner.name, runner.served) for runner in runners] == [("served", True), ("served@before", True)]
    assert runners[1].cwd == tree  # its zygote is started from there (bench/run.py zygotes_for)
    with pytest.raises(SystemExit):
        run.parse_args(["--served-tree", f"x={tmp_path}"])


def test_served_runner_runs_through_the_sessions_zygote(tmp_path: Path) -> None:
    """The served column goes to the zygote the session started, the cold one never does, and
    a run the zygote did not serve fails instead of counting as served; a failed run does not
    leave the count behind (the next served run was once reported as not served)."""
    from bench.benchmarks import by_name
    from bench.runners import SENTRIO, SERVED
    from bench.zygote import ZygoteError

    true = by_name("startup_true")
    image = run.build_image([true], tmp_path / "image")
    with run.zygotes_for([SENTRIO, SERVED]) as zygotes:
        assert set(zygotes) == {"served"}
        zygote = zygotes["served"]
        assert not isinstance(zygote, ZygoteError), zygote
        done, _, wall = run.launch(SERVED, [true.guest_path], image, 120, None, zygotes)
        assert done.returncode == 0 and wall > 0
        run.launch(SENTRIO, [true.guest_path], image, 120, None, zygotes)  # cold: the zygote's count stays
        run.launch(SERVED, [true.guest_path], image, 120, None, zygotes)
        assert zygote.check_served() is not None  # no run since the last check
        with pytest.raises(RuntimeError, match="exit 126"):  # a failed run is counted all the same ...
            run.launch(SERVED, ["/bench/small"], image, 120, None, zygotes)  # (not a program)
        run.launch(SERVED, [true.guest_path], image, 120, None, zygotes)  # ... so the next one is not blamed
        held = run.zygote_memory(zygotes)["served"]
        assert held["pss"] > 5
    assert not zygote.socket.exists()


def test_wall_benchmark_reports_the_commands_time(tmp_path: Path) -> None:
    from bench.benchmarks import by_name

    startup = by_name("startup_true")
    assert startup.measures_wall and startup.args(5) == []
    assert startup.parse("") == 0.0


def test_the_gofer_round_trip_tool_times_each_request(tmp_path: Path) -> None:
    """``python -m bench.gofer`` over a real gofer: a row per request, each a positive figure."""
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:
        pytest.skip("the gofer confines itself with namespaces, which needs root")
    for i in range(40):
        (tmp_path / f"f{i}").write_text(str(i))
    result = subprocess.run([sys.executable, "-m", "bench.gofer", str(tmp_path), "--calls", "64", "--repeat", "1"],
                            capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| request")}
    assert set(rows) == {"getattr", "walkopen", "openmany (per file)"} and all(v > 0 for v in rows.values())
