"""podman drives Sentrio as its OCI runtime (``podman --runtime sentrio``): run, run -d, logs,
stop (SIGTERM, then SIGKILL after the timeout), rm and exit codes, against a chroot."""

from __future__ import annotations

import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostnet import HostHttpServer, global_ipv4
from tests.oci.conftest import needs_root

pytestmark = needs_root
IMAGE = "localhost/sentrio-oci-busybox:test"


class Podman:
    def __init__(self, runtime: Path) -> None:
        self.runtime = runtime

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", "--runtime", str(self.runtime), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture(scope="session")
def podman(runtime_binary: Path, rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """podman with the busybox image imported into its store (``podman import`` of its tar)."""
    archive = tmp_path_factory.mktemp("podman") / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    podman = Podman(runtime_binary)
    imported = podman("import", "--quiet", str(archive), IMAGE)
    assert imported.returncode == 0, imported.stderr
    yield podman
    podman("rmi", "--force", IMAGE)


@pytest.fixture
def name(podman: Podman) -> Iterator[str]:
    name = f"sentrio-test-{uuid.uuid4().hex[:12]}"
    yield name
    podman("rm", "--force", "--time", "0", name)


def run(podman: Podman, name: str, *argv: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return podman("run", "--name", name, "--network", "none", *options, IMAGE, *argv)


def test_run_rm_gives_what_a_chroot_gives(podman: Podman, name: str, rootfs: Path) -> None:
    argv = ("sh", "-c", "echo out; echo err >&2; echo $((6 * 7)); ls /bin/sh; exit 5")
    native = subprocess.run(["chroot", str(rootfs), *argv], capture_output=True, text=True, timeout=60)
    done = run(podman, name, *argv, options=("--rm",))
    assert (done.stdout, done.returncode) == (native.stdout, native.returncode) == (done.stdout, 5)
    assert "err\n" in done.stderr
    assert podman("container", "exists", name).returncode == 1  # --rm removed it


def test_command_not_found_is_127(podman: Podman, name: str) -> None:
    done = run(podman, name, "/no/such/program", options=("--rm",))
    assert done.returncode == 127, done.stderr


def test_detached_logs_stop_rm(podman: Podman, name: str) -> None:
    script = 'trap "echo stopping; exit 9" TERM; echo up; while :; do sleep 0.1; done'
    started = run(podman, name, "sh", "-c", script, options=("-d",))
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 120  # patience on a loaded machine, not a timing assertion
    while podman("logs", name).stdout != "up\n":  # the trap is set
        assert time.monotonic() < deadline, "the container never said it was up"
        time.sleep(0.2)
    stopped = podman("stop", "--time", "60", name)
    assert stopped.returncode == 0, stopped.stderr
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "9"
    assert podman("logs", name).stdout == "up\nstopping\n"
    assert podman("rm", name).returncode == 0
    assert podman("container", "exists", name).returncode == 1


def test_stop_kills_after_the_timeout(podman: Podman, name: str) -> None:
    # pid 1 without a handler ignores SIGTERM, as on Linux: stop must fall back to SIGKILL.
    started = run(podman, name, "sleep", "1000", options=("-d",))
    assert started.returncode == 0, started.stderr
    assert podman("stop", "--time", "1", name).returncode == 0
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "137"


def test_run_it_through_the_console_socket(podman: Podman, name: str) -> None:
    # podman -t needs a terminal of its own: script(1) gives it one.
    command = (f"podman --runtime {podman.runtime} run --rm -it --network none --name {name} {IMAGE} "
               "sh -c '[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; exit 3'")
    done = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=180)
    assert "on-a-terminal" in done.stdout and done.returncode == 3, (done.stdout, done.stderr)


def test_the_config_podman_writes(podman: Podman, name: str, tmp_path: Path) -> None:
    """A volume, a read-only root, user and extra group, hostname, rlimits, capabilities and a
    tmpfs, as podman writes them into config.json, all reach the guest."""
    (tmp_path / "f").write_text("volume-content\n")
    tmp_path.chmod(0o755)  # the guest's user 1000 reads it
    script = ("cat /data/f; id -u; id -G; hostname; ulimit -n; ulimit -Hn; grep CapEff /proc/self/status; "
              "touch /x; touch /scratch/y && echo tmpfs-ok; touch /data/z; exit 4")
    done = run(podman, name, "sh", "-c", script,
               options=("--rm", "-v", f"{tmp_path}:/data:ro", "--read-only", "--user", "1000:1000",
                        "--group-add", "50", "--hostname", "h1", "--ulimit", "nofile=100:200",
                        "--cap-drop", "ALL", "--tmpfs", "/scratch"))
    assert done.stdout == "volume-content\n1000\n1000 50\nh1\n100\n200\nCapEff:\t0000000000000000\ntmpfs-ok\n"
    assert done.stderr.count("Read-only file system") == 2 and done.returncode == 4, done.stderr


def test_exec_into_a_running_container(podman: Podman, name: str) -> None:
    started = run(podman, name, "sleep", "1000", options=("-d",))
    assert started.returncode == 0, started.stderr
    done = podman("exec", name, "sh", "-c", "echo hello from exec; cat /proc/1/comm; exit 7")
    assert (done.stdout, done.returncode) == ("hello from exec\nsleep\n", 7), (done.stderr, started.stdout)
    assert podman("exec", name, "/no/such/program").returncode == 127


def test_the_engines_network_is_the_way_out(podman: Podman, name: str) -> None:
    """podman's own network namespace (config.json names it) is where the guest's connections
    leave from: the host sees podman's container address, not its own; ``--network none``
    (a new, empty namespace) leaves the guest no way out at all."""
    address = global_ipv4()
    if address is None:
        pytest.skip("the host has no global IPv4 address for podman's network to reach")
    with HostHttpServer(address, lambda client: f"client {client}\n".encode()) as who:
        done = podman("run", "--rm", "--name", name, IMAGE, "wget", "-q", "-O", "-", who.url)
        assert done.returncode == 0, done.stderr
        client = done.stdout.split()[-1]
        assert client != address and not client.startswith("10.0.2."), done.stdout  # podman's, not ours
        none = podman("run", "--rm", "--network", "none", IMAGE, "wget", "-q", "-O", "-", who.url)
        assert none.returncode != 0 and "Network is unreachable" in none.stderr, none.stderr
