"""Bad input to ``run`` is one line on stderr and exit 125: never a traceback, never the usage
screen. Each case is found before the Sentry starts anything, so most run in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kernel.oci import MAX_CONFIG_SIZE, MAX_NESTING
from tests.cli.conftest import sentrio


def one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run main(argv) as the CLI does; its exit status must be 125 and its stderr one line."""
    from kernel.cli import main

    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's errors
        status = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert (status, out) == (125, "")
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    return err.rstrip("\n")


@pytest.mark.parametrize(("flags", "message"), [
    (["--trace-messages", "/no/such/dir/messages"],
     "sentrio: --trace-messages '/no/such/dir/messages': No such file or directory"),
    (["--debug-log", "/no/such/dir/debug.log"],
     "sentrio: --debug-log '/no/such/dir/debug.log': No such file or directory"),
    (["--debug-log", "/"], "sentrio: --debug-log '/': Is a directory"),
    (["--memory", "0"], "sentrio: argument --memory: '0' is too little memory to run anything (the least is 6m)"),
    (["--memory", "99999999999g"],
     "sentrio: argument --memory: '99999999999g' is more memory than a guest can address (at most 127t)"),
    (["-w", ""], "sentrio: the working directory must be an absolute path, got ''"),
    (["--hostname", ""], 'sentrio: --hostname: not a valid host name: ""'),
    (["--tmpfs", "/t:size=lots"], "sentrio: --tmpfs '/t:size=lots': tmpfs option 'size=lots': expected a size "
                                  "like 64m or 10%"),
    (["--tmpfs", "/t:size=0"], "sentrio: --tmpfs '/t:size=0': tmpfs option 'size=0': expected a size like 64m "
                               "or 10%"),
    (["--tmpfs", "/t:mode=999"], "sentrio: --tmpfs '/t:mode=999': tmpfs option 'mode=999': expected an octal "
                                 "mode like 1777"),
    (["--tmpfs", "/t:uid=root"], "sentrio: --tmpfs '/t:uid=root': tmpfs option 'uid=root': expected a numeric id"),
    (["--tmpfs", "/t:huge=maybe"], "sentrio: --tmpfs '/t:huge=maybe': tmpfs option 'huge=maybe': expected one "
                                   "of advise, always, deny, force, never, within_size"),
    (["--tmpfs", "/t:rw,fast"], "sentrio: --tmpfs '/t:rw,fast': unknown tmpfs option 'fast'"),
    (["--env-file", "/dev/zero"], "sentrio: --env-file '/dev/zero': larger than 1 MiB"),
    (["--bogus"], "sentrio: unrecognized arguments: --bogus"),
    (["--log-level", "loud"], "sentrio: argument --log-level: invalid choice: 'loud' (choose from 'debug', "
                              "'info', 'warning', 'error')"),
    (["--seed", "x"], "sentrio: argument --seed: invalid int value: 'x'"),
])
def test_bad_flags_are_one_line_and_125(image: Path, flags: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert one_line(["run", *flags, str(image), "--", "/bin/showenv"], capsys) == message


@pytest.mark.parametrize(("argv", "message"), [
    ([], "sentrio: the following arguments are required: command"),
    (["launch"], "sentrio: argument command: invalid choice: 'launch' (choose from 'run', 'image', 'ps', "
                 "'inspect', 'syscalls', 'serve', 'trace', 'fuzz')"),
    (["image", "import", "only-one"], "sentrio: the following arguments are required: directory"),
    (["image", "import", "--max-size", "0", "a.tar", "dir"], "sentrio: argument --max-size: expected a positive "
                                                               "size, got '0'"),
    (["inspect"], "sentrio: the following arguments are required: id"),
])
def test_every_argparse_error_is_one_line(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert one_line(argv, capsys) == message


def test_the_usage_screen_never_comes_with_an_error() -> None:
    result = sentrio("run", "--pids-limit", "-3", "/")
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr == "sentrio: argument --pids-limit: expected a positive number, got '-3'\n"


def bundle_with(tmp_path: Path, image: Path, config: bytes) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copytree(image, bundle / "rootfs", symlinks=True)
    (bundle / "config.json").write_bytes(config)
    return bundle


@pytest.mark.parametrize(("config", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, f"sentrio: config.json nests arrays and objects deeper than {MAX_NESTING} "
                                      "levels"),
    (json.dumps({"process": {"args": ["/bin/showenv"]}, "annotations": {"x": [[[[[[[[[[[]] * 7]]]]]]]]]}})
     .replace("[]", "[" * 60 + "]" * 60).encode(),
     f"sentrio: config.json nests arrays and objects deeper than {MAX_NESTING} levels"),
    (b'{"process": {"env": ["' + b"A" * MAX_CONFIG_SIZE + b'"]}}', "sentrio: config.json is larger than 1 MiB"),
    (json.dumps({"mounts": [{"destination": "/t", "type": "tmpfs", "options": ["size=-1"]}]}).encode(),
     "sentrio: config.json: mounts[0].options: tmpfs option 'size=-1': expected a size like 64m or 10%"),
])
def test_a_hostile_config_json_is_one_line_and_125(image: Path, tmp_path: Path, config: bytes, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bundle = bundle_with(tmp_path, image, config)
    assert one_line(["run", str(bundle)], capsys) == message


def test_a_config_json_within_the_bounds_still_loads(image: Path, tmp_path: Path) -> None:
    from kernel.oci import load_bundle

    nested: object = []
    for _ in range(MAX_NESTING - 3):  # the top object, "annotations" and the innermost list make 3
        nested = [nested]
    config = {"process": {"args": ["/bin/showenv"]}, "annotations": {"deep": nested}}
    bundle = bundle_with(tmp_path, image, json.dumps(config).encode())
    assert load_bundle(str(bundle)).args == ["/bin/showenv"]
