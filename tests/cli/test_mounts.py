"""Volumes (``-v``), ``--tmpfs``, ``--read-only`` and a bundle's mounts, as a user runs them.

The guest is busybox's shell; each test looks at the guest's view and at the host directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_bundle import make_bundle
from tests.cli.conftest import needs_root, sentrio

pytestmark = needs_root

EROFS = "Read-only file system"


def sh(busybox: Path, script: str, *flags: str) -> tuple[int, str, str]:
    """Run ``sh -c script`` in the busybox image with ``flags``; (status, stdout, stderr)."""
    result = sentrio("run", *flags, str(busybox), "--", "sh", "-c", script)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    """A host directory with a file, inside a host directory holding a secret next to it."""
    (tmp_path / "secret").write_text("HOST SECRET\n")
    vol = tmp_path / "vol"
    (vol / "sub").mkdir(parents=True)
    (vol / "hello.txt").write_text("hello from the host\n")
    return vol


def test_a_volume_is_visible_and_written_through(busybox: Path, volume: Path) -> None:
    status, out, err = sh(busybox, "cat /data/hello.txt; ls /data; echo written > /data/sub/new.txt; "
                                   "mkdir /data/made; rm /data/hello.txt", "-v", f"{volume}:/data")
    assert status == 0, err
    assert out.splitlines() == ["hello from the host", "hello.txt", "sub"]
    assert (volume / "sub" / "new.txt").read_text() == "written\n"
    assert (volume / "made").is_dir()
    assert not (volume / "hello.txt").exists()


def test_a_volume_mount_point_is_made_when_missing(busybox: Path, volume: Path) -> None:
    status, out, err = sh(busybox, "cat /not/yet/there/hello.txt", "-v", f"{volume}:/not/yet/there")
    assert (status, out) == (0, "hello from the host\n"), err
    assert not (busybox / "not").exists()  # the image itself is never changed


def test_a_read_only_volume_refuses_changes(busybox: Path, volume: Path) -> None:
    status, out, err = sh(busybox, "cat /data/hello.txt; echo x > /data/new; mkdir /data/d; rm /data/hello.txt",
                          "-v", f"{volume}:/data:ro")
    assert out == "hello from the host\n"
    assert status != 0
    assert err.count(EROFS) == 3, err
    assert sorted(p.name for p in volume.iterdir()) == ["hello.txt", "sub"]


def test_read_only_root_with_a_writable_tmpfs(busybox: Path) -> None:
    status, out, err = sh(busybox, "echo x > /etc/new; echo y > /scratch/file && cat /scratch/file; "
                                   "echo z > /tmp/file && cat /tmp/file", "--read-only", "--tmpfs", "/scratch")
    assert out == "y\nz\n"
    assert err.count(EROFS) == 1 and "/etc/new" in err, err
    assert not (busybox / "etc" / "new").exists()


def test_a_tmpfs_is_empty_and_writable(busybox: Path) -> None:
    status, out, err = sh(busybox, "ls -A /etc; stat -c %a /etc; echo one > /etc/f && cat /etc/f",
                          "--tmpfs", "/etc", "--no-hosts", "--no-hostname", "--dns", "none")
    assert (status, out) == (0, "1777\none\n"), err
    assert not (busybox / "etc" / "f").exists()


def test_a_tmpfs_mode_option(busybox: Path) -> None:
    status, out, err = sh(busybox, "stat -c %a /run/x", "--tmpfs", "/run/x:mode=750")
    assert (status, out) == (0, "750\n"), err


def test_mounts_show_in_proc(busybox: Path, volume: Path) -> None:
    status, out, err = sh(busybox, "cat /proc/mounts; echo --; cat /proc/self/mountinfo",
                          "-v", f"{volume}:/data", "-v", f"{volume}:/ro:ro", "--tmpfs", "/scratch")
    assert status == 0, err
    mounts, info = out.split("--\n")
    assert "none /data 9p rw,relatime 0 0" in mounts.splitlines()
    assert "none /ro 9p ro,relatime 0 0" in mounts.splitlines()
    assert "tmpfs /scratch tmpfs rw,relatime 0 0" in mounts.splitlines()
    rows = {line.split()[4]: line.split() for line in info.splitlines()}
    assert set(rows) >= {"/", "/dev", "/proc", "/data", "/ro", "/scratch"}
    root_id = rows["/"][0]
    assert rows["/data"][1] == root_id and rows["/data"][5] == "rw,relatime" and rows["/data"][7] == "9p"
    assert rows["/ro"][5].startswith("ro")
    assert str(volume) not in out  # the host's paths are not the guest's business


def test_nested_mounts_name_their_parent(busybox: Path, volume: Path, tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "i").write_text("inner\n")
    status, out, err = sh(busybox, "cat /data/sub/i; ls /data; grep ' /data' /proc/self/mountinfo",
                          "-v", f"{inner}:/data/sub", "-v", f"{volume}:/data")  # parents are mounted first
    assert status == 0, err
    lines = out.splitlines()
    assert lines[:3] == ["inner", "hello.txt", "sub"]
    data, sub = (line.split() for line in lines[3:])
    assert sub[4] == "/data/sub" and sub[1] == data[0]
    assert not (volume / "sub" / "i").exists()


def test_symlinks_in_a_volume_resolve_in_the_guest(busybox: Path, volume: Path) -> None:
    (volume / "up").symlink_to("../../../..")
    (volume / "secret-link").symlink_to("../secret")
    (volume / "absolute").symlink_to(volume.parent / "secret")
    status, out, err = sh(busybox, "ls /data/up/; cat /data/secret-link; cat /data/absolute; cat /data/../secret; "
                                   "cd /data/sub/../..; pwd; ls",
                          "-v", f"{volume}:/data")
    assert "HOST SECRET" not in out
    listing = out.split("/\n")
    assert "bin" in listing[0].split() and "vol" not in listing[0].split()
    assert "bin" in listing[1].split() and "data" in listing[1].split()
    assert err.count("No such file or directory") == 3, err


def test_a_volume_root_dotdot_is_the_guest_parent(busybox: Path, volume: Path) -> None:
    status, out, err = sh(busybox, "cd /mnt/data && cd .. && pwd && ls", "-v", f"{volume}:/mnt/data")
    assert status == 0, err
    assert out.split() == ["/mnt", "data"]


def test_an_impossible_mount_is_a_usage_error(busybox: Path, volume: Path) -> None:
    result = sentrio("run", "-v", f"{volume}:/bin/sh", str(busybox), "--", "true")
    assert (result.returncode, result.stderr) == (125, "sentrio: mount point /bin/sh: not a directory\n")
    result = sentrio("run", "-v", f"{volume / 'hello.txt'}:/x", str(busybox), "--", "true")
    assert result.returncode == 125 and "a single file is bound read-only (add :ro)" in result.stderr


def test_a_single_file_is_bound_read_only_as_a_copy(busybox: Path, volume: Path) -> None:
    """``-v FILE:GUEST:ro`` over an image file and at a new path (its directories made): the
    file's bytes, EROFS for a write, EBUSY for rm, the host file and the image untouched."""
    source = volume / "hello.txt"
    status, out, err = sh(busybox, "cat /etc/greeting /new/place/hello; echo x >> /etc/greeting; "
                                   "rm /new/place/hello; grep -c greeting /proc/mounts",
                          "-v", f"{source}:/etc/greeting:ro", "-v", f"{source}:/new/place/hello:ro")
    assert out.splitlines() == ["hello from the host", "hello from the host", "1"], err
    assert err.count(EROFS) == 1 and "Device or resource busy" in err, err
    assert source.read_text() == "hello from the host\n"
    assert not (busybox / "etc" / "greeting").exists() and not (busybox / "new").exists()


def test_bundle_mounts(busybox: Path, volume: Path, tmp_path: Path) -> None:
    engine_hosts = tmp_path / "hosts"  # an engine's own /etc/hosts, bound over the sandbox's
    engine_hosts.write_text("10.1.2.3\tengine-made\n")
    config = {
        "ociVersion": "1.0.2",
        "process": {"args": ["sh", "-c", "cat /data/hello.txt; echo ok > /scratch/f && cat /scratch/f; "
                                         "echo n > /dev/null && echo devnull; cat /etc/hosts; "
                                         "cat /proc/self/mounts"],
                    "cwd": "/", "env": ["PATH=/bin:/sbin:/usr/bin"]},
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/data", "type": "bind", "source": str(volume), "options": ["rbind", "rw"]},
            {"destination": "/etc/hosts", "type": "bind", "source": str(engine_hosts), "options": ["rbind", "rw"]},
        ],
    }
    bundle = make_bundle(tmp_path / "bundle", busybox, config)
    log = tmp_path / "debug.log"
    result = sentrio("run", "--debug-log", str(log), str(bundle))
    assert result.returncode == 0, result.stderr
    assert "mount /dev/mqueue (mqueue): not provided by the sandbox; skipped" in log.read_text()
    lines = result.stdout.splitlines()
    assert lines[:4] == ["hello from the host", "ok", "devnull", "10.1.2.3\tengine-made"]
    points = [line.split()[1] for line in lines[4:]]
    # the sandbox's own /proc, /dev and devpts serve the bundle's, once each
    assert points.count("/proc") == 1 and points.count("/dev") == 1 and points.count("/dev/pts") == 1
    assert [point for point in points if point in ("/scratch", "/data")] == ["/scratch", "/data"]
    assert points[-4:] == ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/hosts"]  # the engine's last



def test_a_volume_is_its_own_file_system(busybox: Path, volume: Path) -> None:
    status, out, err = sh(busybox, "ln /data/hello.txt /tmp/link; rmdir /data; stat -c %d / /data | uniq | wc -l",
                          "-v", f"{volume}:/data")
    assert out == "2\n"
    assert "Invalid cross-device link" in err and "resource busy" in err, err
