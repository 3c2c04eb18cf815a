"""Files kept in memory are bounded, as Linux bounds tmpfs: a full file system is ENOSPC for
the guest, never host memory the Sentry cannot have."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import sentrio

FILL = "dd if=/dev/zero of={path} bs=65536 count={count} 2>&1; echo status=$?; ls -l {path}"


def test_a_tmpfs_of_a_given_size_fills_up_with_enospc(busybox: Path) -> None:
    script = FILL.format(path="/data/big", count=64) + "; df -k /data | tail -1; echo again > /data/small; echo $?"
    result = sentrio("run", "--tmpfs", "/data:size=1m", str(busybox), "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert "No space left on device" in result.stdout and "status=1" in result.stdout
    assert " 1048576 " in result.stdout  # the file holds exactly what fitted
    assert " 1024 " in result.stdout  # df: 1024 KiB in all
    assert result.stdout.rstrip().endswith("1")  # nothing more fits


def test_tmp_and_the_overlay_may_each_take_half_the_sandbox_s_memory(busybox: Path) -> None:
    for path in ("/tmp/big", "/big"):
        result = sentrio("run", "--memory", "64m", str(busybox), "--", "sh", "-c", FILL.format(path=path, count=1024))
        assert result.returncode == 0, result.stderr
        assert "No space left on device" in result.stdout and "status=1" in result.stdout, path
        assert f" {32 << 20} " in result.stdout, result.stdout  # half of 64 MiB, to the byte


def test_space_comes_back_when_files_go(busybox: Path) -> None:
    script = "; ".join([FILL.format(path="/data/a", count=16), "rm /data/a", FILL.format(path="/data/b", count=16)])
    result = sentrio("run", "--tmpfs", "/data:size=1m", str(busybox), "--", "sh", "-c", script)
    assert result.stdout.count("status=0") == 2, result.stdout


def test_a_tmpfs_size_that_cannot_be_understood_is_one_line_and_status_125(busybox: Path) -> None:
    result = sentrio("run", "--tmpfs", "/data:size=lots", str(busybox), "--", "true")
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "size=lots" in result.stderr


def test_fallocate_on_tmpfs_cannot_take_more_than_its_room(busybox: Path) -> None:
    script = "fallocate -l 1073741824 /data/x; echo status=$?; truncate -s 10G /data/sparse; echo status=$?"
    result = sentrio("run", "--tmpfs", "/data:size=1m", str(busybox), "--", "sh", "-c", script)
    assert "No space left on device" in result.stderr
    assert result.stdout == "status=1\nstatus=0\n"  # a sparse size costs nothing, as on tmpfs
