"""``run``'s flags, each seen from inside the guest; exit statuses as docker reports them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import fields, needs_root, sentrio

pytestmark = needs_root


def test_defaults_a_bare_directory(image: Path) -> None:
    result = sentrio("run", str(image), "--", "/bin/showenv")
    assert result.returncode == 0, result.stderr
    out = fields(result.stdout)
    assert out["cwd"] == ["/"]
    assert out["ids"] == ["0 0 0 0"]
    assert out["hostname"] == ["sentrio"]
    env = out["env"]
    assert env[0].startswith("PATH=/usr/local/sbin:")
    assert "HOME=/root" in env and "HOSTNAME=sentrio" in env


def test_env_env_file_workdir_user_hostname(image: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nFROM_FILE=1\nOVERRIDDEN=file\n")
    result = sentrio("run", "-e", "A=b c", "--env-file", str(env_file), "-e", "OVERRIDDEN=flag",
                     "-w", "/work", "-u", "1234:56", "--hostname", "box", str(image), "--", "/bin/showenv")
    assert result.returncode == 0, result.stderr
    out = fields(result.stdout)
    assert out["cwd"] == ["/work"]
    assert out["ids"] == ["1234 56 1234 56"]
    assert out["hostname"] == ["box"]
    assert {"A=b c", "FROM_FILE=1", "OVERRIDDEN=flag", "HOSTNAME=box", "HOME=/"} <= set(out["env"])


def test_env_key_alone_passes_the_hosts_value(image: Path) -> None:
    env = dict(os.environ, SENTRIO_PASSED="yes")
    env.pop("SENTRIO_NOT_SET", None)
    result = sentrio("run", "-e", "SENTRIO_PASSED", "-e", "SENTRIO_NOT_SET", str(image), "--", "/bin/showenv",
                     env=env)
    envs = fields(result.stdout)["env"]
    assert "SENTRIO_PASSED=yes" in envs
    assert not any(e.startswith("SENTRIO_NOT_SET") for e in envs)


def test_user_by_name_from_the_images_passwd_and_group(image: Path) -> None:
    result = sentrio("run", "-u", "alice", str(image), "--", "/bin/showenv")
    out = fields(result.stdout)
    assert out["ids"] == ["1000 1001 1000 1001"]
    assert "HOME=/home/alice" in out["env"]
    result = sentrio("run", "-u", "alice:staff", str(image), "--", "/bin/showenv")
    assert fields(result.stdout)["ids"] == ["1000 50 1000 50"]


def test_a_command_without_a_slash_is_found_on_the_guests_path(image: Path) -> None:
    result = sentrio("run", str(image), "--", "showenv", "3")
    assert result.returncode == 3
    assert fields(result.stdout)["argv0"] == ["/bin/showenv"]
    result = sentrio("run", "-e", "PATH=/usr/bin", str(image), "--", "showenv")
    assert result.returncode == 127
    assert result.stderr == "showenv: not found in the image\n"


def test_stdin_is_empty_without_i_and_the_hosts_with_it(image: Path) -> None:
    plain = sentrio("run", str(image), "--", "/bin/showenv", "stdin", input="hello\n", stdin=None)
    interactive = sentrio("run", "-i", str(image), "--", "/bin/showenv", "stdin", input="hello\n", stdin=None)
    assert fields(plain.stdout)["stdin"] == ["0"]
    assert fields(interactive.stdout)["stdin"] == ["6"]


@pytest.mark.parametrize(("argv", "status", "stderr"), [
    (["/bin/showenv", "0"], 0, ""),
    (["/bin/showenv", "7"], 7, ""),
    (["/bin/showenv", "segv"], 139, ""),
    (["/bin/nope"], 127, "/bin/nope: not found in the image\n"),
    (["/bin/not-executable"], 126, "/bin/not-executable: not executable (Permission denied)\n"),
])
def test_exit_statuses(image: Path, argv: list[str], status: int, stderr: str) -> None:
    result = sentrio("run", str(image), "--", *argv)
    assert result.returncode == status
    assert result.stderr == stderr


@pytest.mark.parametrize(("flags", "message"), [
    (["-v", "/no/such/source:/data"], "sentrio: --volume '/no/such/source:/data': the source '/no/such/source' "
                                       "does not exist"),
    (["-v", "/tmp:data"], "sentrio: --volume: the guest path must be absolute, got 'data'"),
    (["-v", "/tmp:/data:rx"], "sentrio: --volume '/tmp:/data:rx': the mode must be ro or rw, not 'rx'"),
    (["--tmpfs", "relative"], "sentrio: --tmpfs: the guest path must be absolute, got 'relative'"),
    (["-w", "work"], "sentrio: the working directory must be an absolute path, got 'work'"),
    (["-u", "bob"], "sentrio: --user 'bob': no user 'bob' in the image's /etc/passwd"),
    (["-u", "1:nogroup"], "sentrio: --user '1:nogroup': no group 'nogroup' in the image's /etc/group"),
    (["--env-file", "/no/such/file"], "sentrio: cannot read --env-file '/no/such/file': No such file or directory"),
    (["--hostname", "a/b"], "sentrio: --hostname: not a valid host name: \"a/b\""),
    (["--memory", "lots"], "sentrio: argument --memory: not a size: 'lots' (use e.g. 512m or 2g)"),
    (["--pids-limit", "0"], "sentrio: argument --pids-limit: expected a positive number, got '0'"),
    (["--read-only", "--rw"], "sentrio: argument --rw: not allowed with argument --read-only"),
])
def test_runtime_errors_exit_125_with_one_line(image: Path, flags: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (each is found before the Sentry starts anything): main() as the CLI calls it."""
    from kernel.cli import main

    try:
        status = main(["run", *flags, str(image), "--", "/bin/showenv"])
    except SystemExit as exit_:  # argparse's errors
        status = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert (status, out) == (125, "")
    assert err.splitlines()[-1] == message
    assert "Traceback" not in err


def test_a_runtime_error_from_the_command_line(image: Path) -> None:
    result = sentrio("run", "-v", "/no/such/source:/data", str(image), "--", "/bin/showenv")
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr == ("sentrio: --volume '/no/such/source:/data': the source '/no/such/source' "
                             "does not exist\n")


def test_flags_reach_the_kernel_config(image: Path, tmp_path: Path) -> None:
    """What the VFS and process helpers will honour is recorded in KernelConfig."""
    from kernel.kernel import KernelConfig
    from kernel.runspec import RunFlags, build_config

    config = build_config(RunFlags(
        image=str(image), cmd=["showenv"], volume=[f"{tmp_path}:/data:ro", f"{tmp_path}/:/rw"],
        tmpfs=["/scratch:size=1m"], read_only=True, pids_limit=5, memory=1 << 20, tty=True, name="box1"))
    assert config.argv == [b"/bin/showenv"]
    assert (config.read_only, config.rw) == (True, False)
    assert [(m.destination, m.kind, m.source, m.read_only) for m in config.mounts] == [
        ("/etc/hosts", "file", None, False), ("/etc/hostname", "file", None, False),
        ("/etc/resolv.conf", "file", None, False),
        ("/data", "bind", str(tmp_path), True), ("/rw", "bind", str(tmp_path), False),
        ("/scratch", "tmpfs", "tmpfs", False)]
    assert config.mounts[5].options == ("size=1m",)
    assert config.mounts[1].content == b"sentrio\n"
    assert config.pids_limit == 5 and config.memory_limit == 1 << 20
    assert config.tty and b"TERM=xterm" in config.env
    assert config.sandbox_id == "box1"
    config = build_config(RunFlags(image=str(image), cmd=["/bin/showenv"], rw=True))
    assert (config.read_only, config.rw) == (False, True)
    config = build_config(RunFlags(image=str(image), cmd=["/bin/showenv"]))
    assert (config.read_only, config.rw, config.pids_limit) == (False, False, KernelConfig.pids_limit)


@pytest.mark.differential
def test_user_env_and_status_match_chroot_natively(image: Path) -> None:
    """The same program, environment and user under ``env -i … chroot --userspec`` and under Sentrio."""
    import shutil
    import subprocess

    env = ["PATH=/bin:/usr/bin", "HOME=/home/alice", "HOSTNAME=box", "A=1"]
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    native = subprocess.run(["env", "-i", *env, chroot, "--userspec=1000:1001", str(image), "/bin/showenv", "7"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    flags = [arg for item in env for arg in ("-e", item)]
    ours = sentrio("run", "-u", "1000:1001", "-w", "/", *flags, str(image), "--", "/bin/showenv", "7")
    assert (ours.returncode, ours.stderr) == (native.returncode, native.stderr) == (7, "")

    def without_hostname(output: str) -> list[str]:
        return [line for line in output.splitlines() if not line.startswith("hostname ")]

    assert without_hostname(ours.stdout) == without_hostname(native.stdout)
    assert fields(ours.stdout)["hostname"] == ["sentrio"]


def test_debug_log_keeps_the_sentrys_log(image: Path, tmp_path: Path) -> None:
    log = tmp_path / "debug.log"
    result = sentrio("run", "--debug-log", str(log), "--log-level", "error", str(image), "--", "/bin/showenv")
    assert result.returncode == 0 and result.stderr == ""
    text = log.read_text()
    assert " DEBUG " in text or " INFO " in text, text[:500]
