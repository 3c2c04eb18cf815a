"""Issue 4's acceptance: busybox ``sh`` scripts behave under Sentrio as they do on Linux.

Every script runs twice on the busybox image (``image build busybox``):

* natively: ``unshare --pid --fork --mount-proc=IMAGE/proc chroot IMAGE /bin/sh -c SCRIPT``,
  with a /dev like Sentrio's (see NATIVE_SETUP). The new pid namespace makes the shell pid 1
  with a fresh /proc, as it is in a Sentrio sandbox (and in a container), so ``$$``,
  ``/proc/self`` and pid-1 signal rules can be compared; the mount namespaces make /proc and
  /dev vanish with the run. The native run gets the environment the CLI gives a guest and an
  empty signal mask (``fresh_signal_state``).
* under Sentrio: ``python -m kernel run -i IMAGE -- /bin/sh -c SCRIPT``.

and stdout, stderr and the exit status must be equal. All scripts are started at once (a
thread pool) when the module's first test asks, so the file takes as long as its slowest few
scripts. A script that writes files works in its own ``/tmp/NAME`` and removes it: natively
that is the image's /tmp (shared by every native run), under Sentrio a tmpfs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.differential.harness import GUEST_ENV, Outcome, _shell_status, explain, fresh_signal_state, run_sentrio

try:
    from kernel.images.build import HOST_BUSYBOX, build_busybox
except ImportError:  # pragma: no cover - the image builder is part of the CLI
    HOST_BUSYBOX, build_busybox = Path("/nonexistent"), None

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot, namespaces and ptrace need root"),
    pytest.mark.skipif(not HOST_BUSYBOX.is_file(), reason="needs busybox-static (bash scripts/setup.sh)"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)"),
]


def workdir(name: str, body: str) -> str:
    """``body`` run in a fresh /tmp/NAME, removed afterwards; the body's status is the script's."""
    return f"d=/tmp/{name}; rm -rf $d; mkdir -p $d && cd $d || exit 99\n{body}\nrc=$?; cd /; rm -rf $d; exit $rc"


#: A tree with fixed contents, modes and times (touch -d), for ls, find, tar.
FIXED_TREE = """
mkdir -p tree/a/b tree/c
printf 'hello\\n' > tree/a/one
printf 'two\\nlines\\n' > tree/a/b/two
printf '' > tree/c/empty
printf 'x%.0s' 1 2 3 4 5 6 7 8 9 10 > tree/ten
ln -s a/one tree/link
chmod 640 tree/a/one; chmod 755 tree/ten; chmod 700 tree/c
for f in tree/a/one tree/a/b/two tree/c/empty tree/ten tree/a/b tree/a tree/c tree; do
    touch -d '2021-02-03 04:05:06' $f
done
touch -h -d '2021-02-03 04:05:06' tree/link
"""

SCRIPTS: dict[str, str] = {
    # --- the shell itself -------------------------------------------------------------------
    "echo_printf": r"""echo hello world; echo -n no-newline; echo; echo -e 'a\tb'
printf '%s|%5d|%-4s|%x|%o|%c|%%\n' str 42 ab 255 8 zed
printf '%s\n' one two three; printf '%03d %.2f\n' 7 3.14159""",
    "exit_statuses": r"""true; echo $?; false; echo $?; (exit 7); echo $?; sh -c 'exit 300'; echo $?
nonexistent-command 2>/dev/null; echo $?; /etc/passwd 2>/dev/null; echo $?
! true; echo $?; true && echo and; false || echo or; exit 42""",
    "arithmetic": r"""echo $((1+2*3)) $((17/5)) $((17%5)) $((-7/2)) $((1<<10)) $((0x1f)) $((7&3|8))
i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo $i; echo $(( i > 3 ? 100 : 200 ))
x=5; x=$((x*x)); echo $x""",
    "test_builtin": r"""for e in '1 -eq 1' '1 -ne 1' '2 -gt 1' 'abc = abc' 'abc != abc' '-z ""' '-n x' \
  '-d /tmp' '-f /etc/passwd' '-e /nonexistent' '-x /bin/busybox' '-L /bin/sh' '-r /etc/passwd' \
  '-s /etc/passwd' '! -f /tmp'; do
    eval "test $e"; echo "$e -> $?"; eval "[ $e ]"; echo "[ $e ] -> $?"
done; [ 1 -lt 2 ] && [ a \< b ] && echo ok""",
    "variables": r"""a=1; b="two words"; echo "$a $b" ${b%% *} ${b#* } ${#b} ${unset:-default} ${a:+set}
set -- x y z; echo $# $1 $3 "$@"; shift; echo $*; f() { echo "f:$#:$1"; return 3; }; f p q; echo $?
IFS=:; set -- $(echo a:b:c); echo $2; unset IFS; echo "${HOME}" "$PATH"
""",
    "pipelines": r"""echo one two three | tr ' ' '\n' | sort -r | head -2
seq 1 100 | grep 7 | wc -l; yes | head -3; false | true; echo $?; true | false; echo $?
seq 1 2000 | cat | cat | tail -1""",
    "subshells": r"""x=outer; (x=inner; echo $x; cd /etc; pwd); echo $x; pwd
(exit 3); echo $?; { echo group; echo two; } | wc -l; (echo a; echo b) > /dev/null; echo $?
echo $( (echo nested; echo sub) | wc -l )""",
    "command_substitution": r"""a=$(echo hi); b=`echo there`; echo "$a $b"; echo "$(printf 'x\n\n\n')|"
n=$(seq 1 10 | wc -l); echo $n; echo $(echo $(echo deep)); echo "$(false; echo $?)"
lines=$(cat /etc/passwd | wc -l); [ $lines -gt 0 ] && echo has-lines""",
    "here_documents": r"""cat <<EOF
plain $HOME $((2+2))
EOF
cat <<'EOF'
quoted $HOME $((2+2))
EOF
cat <<-EOF | tr a-z A-Z
	tabs stripped
	EOF
while read a b; do echo "[$a] [$b]"; done <<EOF
1 2 3
four
EOF""",
    "redirections": workdir("redir", r"""echo first > f; echo second >> f; cat f; cat < f | wc -l
ls /nonexistent > out 2>&1; echo $?; sed 's/:.*//' out
(echo to-stdout; echo to-stderr >&2) 2>&1 >/dev/null | cat
exec 3> g; echo via-fd3 >&3; exec 3>&-; cat g; : > f; wc -c < f
echo err 2>/dev/null >&2; echo status $?
cat < /nonexistent; echo $?"""),
    "read_loops": r"""printf 'a 1\nb 2\nc 3\n' | while read name n; do echo "$name=$((n*10))"; done
while IFS=: read user x uid rest; do echo "$user:$uid"; done < /etc/passwd
read -r line <<EOF
back\slash kept
EOF
echo "$line"; i=0; while read l; do i=$((i+1)); done < /etc/passwd; [ $i -gt 0 ] && echo counted""",
    "set_e": r"""set -e; true; echo before; false || echo tolerated; if false; then :; fi
sh -c 'set -e; echo in; false; echo never'; echo "inner $?"
false; echo never-printed""",
    "background_and_wait": r"""sleep 0.1 & p1=$!; (exit 5) & p2=$!; sh -c 'exit 6' & p3=$!
wait $p2; echo "p2 $?"; wait $p3; echo "p3 $?"; wait $p1; echo "p1 $?"
for i in 1 2 3; do (echo bg$i > /dev/null) & done; wait; echo all-done
(sleep 0.05; echo later) & p=$!; wait $p; echo after-it; wait""",
    "trap": r"""trap 'echo exiting' EXIT; trap 'echo got-usr1' USR1; kill -USR1 $$; echo after
trap 'echo got-term' TERM; kill $$; echo after-term; trap - TERM
trap 'echo in-sub' USR2; (kill -USR2 $$; true); echo sub-done
trap '' INT; kill -INT $$; echo ignored; trap; exit 3""",
    # After "kill JOB; wait JOB" the shell reports the death on stderr ("Terminated") only if
    # ``wait`` itself reaps the job, not if a SIGCHLD made it reap the job first: a race that
    # native runs and Sentrio (whose kill takes effect later) may decide either way. Those
    # waits' stderr is not compared.
    "kill": r"""sleep 10 & p=$!; kill $p; wait $p 2>/dev/null; echo "TERM $?"
sleep 10 & p=$!; kill -9 $p; wait $p 2>/dev/null; echo "KILL $?"
sleep 10 & p=$!; kill -s USR1 $p; wait $p 2>/dev/null; echo "USR1 $?"
kill -0 $$; echo "self $?"; kill -0 99999 2>/dev/null; echo "none $?"
sh -c 'kill -9 $$'; echo "child $?"; sh -c 'kill -TERM $$'; echo "child $?"
kill -l 15; kill -l | head -3""",
    # The interrupter repeats its signal until the shell is seen interrupted, so the outcome
    # does not depend on whether the first one lands before or during ``wait``.
    "sleep_interrupted": r"""n=0; trap 'n=$((n+1))' USR1; sleep 5 & s=$!
(while kill -USR1 $$ 2>/dev/null; do sleep 0.1; done) & k=$!
wait $s; echo "wait interrupted: $?"; kill $k $s; wait $s 2>/dev/null; echo "sleep ended $?"; wait $k 2>/dev/null
[ $n -gt 0 ] && echo trapped
sleep 5 & s=$!; (sleep 0.1; kill -TERM $s) & wait $s; echo "sleep TERM $?"; wait
r=/tmp/sleep_interrupted.ready; rm -f $r
sh -c 'trap "echo child-usr1; exit 9" USR1; touch '$r'; sleep 5 & wait' & c=$!
(until [ -e $r ]; do sleep 0.05; done; while kill -USR1 $c 2>/dev/null; do sleep 0.1; done) &
wait $c; echo "child $?"; wait; rm $r""",
    "pid_one": r"""echo "pid $$"; kill -9 $$; echo "pid 1 survives SIGKILL from inside"
kill -TERM 1; echo "and TERM with no handler"; sh -c 'echo "child ppid $PPID"'""",
    "stdin": r"""while read -r line; do echo "got <$line>"; done; echo eof
""",
    "stdin_tools": r"""head -2; echo ---; sort | uniq -c | sort -rn; echo ---; cat""",
    # ps once the sleeper has become "sleep" (its name changes when it execs) and sleeps; no
    # pid column, as the wait loop uses up a varying number of pids. Fields 5-6 of stat (process
    # group and session) are left out: natively they lie outside the namespace and read 0. ps
    # runs once the shell sleeps in its wait (a forked ps could read the shell still on its way
    # there, R, natively as under Sentrio), as the exec of a subshell that checked it.
    "ps": r"""sleep 5 & s=$!; until grep -q '^State:.S' /proc/$s/status && [ "$(cat /proc/$s/comm)" = sleep ]
do :; done; (until grep -q '^State:.S' /proc/$$/status; do :; done; exec ps -o ppid,stat,comm)
cut -d' ' -f2-4 /proc/$s/stat; cut -d' ' -f7-8,20 /proc/$s/stat""",
    "scripts_and_functions": workdir("scripts", r"""printf '#!/bin/sh\necho script $0 $# "$@"; exit 5\n' > s.sh
chmod +x s.sh; ./s.sh a "b c"; echo $?; sh s.sh x; printf 'echo sourced\nV=from-source\n' > lib; . ./lib; echo $V
f() { local x=$1; [ $x -le 1 ] && { echo 1; return; }; echo $(( x * $(f $((x-1))) )); }; f 10
for w in a b c; do case $w in a) echo A;; [bc]) echo BC-$w;; esac; done
touch g1 g2 h; echo g*; echo nomatch*; set -- -a -b val rest
while getopts ab: o; do echo "opt $o ${OPTARG:-}"; done; eval "echo \$(( 2**40 ))"
chmod -x s.sh; ./s.sh; echo $?; ./nonexist; echo $?; exec 3< /etc/passwd; read -r first <&3
echo "${first%%:*}"; exec 3<&-; read -r x <&3; echo closed $?"""),
    "exec_redirection_and_jobs": r"""exec 2>&1; echo to-out; ls /nope; sh -c "exit 3" & wait $!; echo $?
sleep 0.1 & sleep 0.1 & wait; echo $?; jobs; exec >/dev/null; echo hidden""",
    "applets_misc": workdir("misc", r"""umask; umask 027; touch f; mkdir g; stat -c '%a %F %s %h %n' f g
chmod 4755 f; stat -c %A f; chown 1:2 f; stat -c '%u %g' f; seq 5 | gzip | gunzip | md5sum
printf abc | md5sum; printf abc | sha256sum; dd if=/dev/zero bs=512 count=3 2>/dev/null | wc -c
dd if=/dev/zero of=z bs=1k count=2 2>&1; cmp f f && echo cmp-same; printf 'a\nb\n' > x; printf 'a\nc\n' > y
diff x y; echo $?; basename /a/b/c.txt .txt; dirname /a/b/c; expr 3 + 4 \* 2; expr length hello
uname -s -m; timeout 1 sleep 3; echo "timeout $?"; nice -n 5 nice; ln -s loop loop; cat loop; echo $?
touch -d '2020-05-06 07:08:09' f; stat -c '%y %Y' f; date -r f +%F; date -u -d @0 '+%Y-%m-%d %H:%M:%S'
seq -s, 1 5; yes abc | head -c 10 | od -An -tx1"""),
    "bulk_data": r"""cat /bin/busybox | wc -c; cat /bin/busybox | md5sum | cut -c1-8; md5sum /bin/busybox | cut -c1-8
head -c 100000 /dev/urandom | wc -c; seq 1 20000 | sort -rn | head -1
seq 1 5000 | while read n; do :; done; echo looped; dd if=/bin/busybox bs=4096 2>/dev/null | tail -c 5 | od -An -c
echo "echo from-stdin-script \$((1+1))" | sh; printf '%s\n' 'echo a' 'exit 6' | sh; echo $?""",
    # --- applets ----------------------------------------------------------------------------
    "text_tools": r"""printf 'b,2,x\na,1,y\nc,3,z\na,1,y\n' > /tmp/text_tools.csv; f=/tmp/text_tools.csv
cat $f | head -2; tail -n 1 $f; wc $f; wc -l < $f; cut -d, -f2 $f; cut -c1-3 $f
tr a-c A-C < $f; tr -d ',' < $f; sort $f | uniq -c; sort -t, -k2 -n -r $f
sed -n '2,3p' $f; sed 's/,/;/g' $f | grep -n 'a;'; grep -c a $f; grep -v a $f; grep -q zz $f; echo $?
awk -F, '{ s += $2; print NR, $1 } END { print "sum", s }' $f
awk 'BEGIN { printf "%d %s %.3f\n", 7, "x", 1/3; split("a b c", v); print v[3] }'
head -c 5 $f; echo; tail -c 4 $f; rev < $f | head -1; od -c $f | head -2; rm $f""",
    "xargs": r"""seq 1 10 | xargs echo; seq 1 7 | xargs -n 3 echo n; printf 'a\nb\n' | xargs -I{} echo '<{}>'
printf 'x y\0z\0' | xargs -0 -n1 echo; echo | xargs echo empty; seq 3 | xargs sh -c 'echo $#' sh
echo 1 2 | xargs false; echo $?""",
    # find's own order is the directory's order, which is the file system's (hashed on ext4,
    # other on a tmpfs): sorted before it is compared.
    "find_sort_uniq": workdir("find", FIXED_TREE + r"""find tree | sort; find tree -type f | sort
find tree -name '*o*' | sort; find tree -type d | wc -l; find tree -newer /etc/passwd | wc -l
find tree -type l -exec readlink {} \;; find tree -type f | sed 's,/[^/]*$,,' | sort | uniq -c
find tree -size -1 -type f | sort; find tree -maxdepth 1 | sort; find tree -perm 755 -type f"""),
    "ls_fixed_tree": workdir("ls", FIXED_TREE + r"""cd tree; ls; ls -a; ls -1 a; ls -F
# Files and links only: a directory's st_size is the file system's own (4096 on ext4, other
# numbers on a tmpfs) and legitimately differs between the host's /tmp and Sentrio's tmpfs.
ls -l ten a/one a/b/two c/empty link; ls -ln ten; ls -lL link; ls -i ten > /dev/null && echo inode
ls -ld a c | awk '{ print $1, $2, $3, $4, $6, $7, $8, $9 }'; ls -la c | awk 'NR > 1 { print $1, $NF }'
ls -R | head -20; ls /nonexistent; echo $?"""),
    "tar_round_trip": workdir("tar", FIXED_TREE + r"""tar cf t.tar tree && tar tf t.tar | sort
tar tvf t.tar | sort -k6 | awk '{ print $1, $2, $3, $4, $5, $6 }'
mkdir out && tar xf t.tar -C out && diff -r tree out/tree && echo identical
ls -l out/tree/ten | awk '{ print $1, $5, $6, $7, $8, $9 }'
# tar sets an extracted symlink's time with a call that follows links: the link keeps "now".
ls -l out/tree/link | awk '{ print $1, $5, $9, $10, $11 }'
tar czf t.tgz -C tree a && mkdir z && cd z && tar xzf ../t.tgz && cat a/one a/b/two"""),
    "files": workdir("files", r"""mkdir -p x/y/z && echo made; mkdir x 2>&1; echo $?; echo data > x/y/z/f
cp x/y/z/f g && cat g; cp -r x x2 && find x2 | sort; mv g h && ls; mv h x2/; ls x2
ln -s x/y/z/f sl && cat sl && readlink sl; ln x2/h hard && stat -c '%h %s %n' hard
rm -r x2 && ls; rm sl hard; rmdir x 2>&1; echo $?; rm -rf x; ls -a
touch a b c; rm a b; ls; mv c /tmp/files_c && mv /tmp/files_c .; ls
cp /nonexistent . 2>&1; echo $?; rm /nonexistent 2>&1; echo $?"""),
    "pwd_cd": r"""pwd; cd /etc && pwd; cd ..; pwd; cd /usr/bin; cd ../../tmp; pwd; cd - > /dev/null; pwd
cd /nonexistent; echo $?; cd; pwd; cd /bin && /bin/pwd; cd /; ls -d /tmp /etc""",
    "id_env": r"""id; id -u; id -g; id -un; whoami
env | sort; env -i A=1 env; env X=y sh -c 'echo $X'; env -u HOME env | sort | grep -c HOME
export NEW=exported; sh -c 'echo $NEW'; NOTEXP=x; sh -c 'echo "[$NOTEXP]"'""",
    "proc_self": r"""readlink /proc/self; echo $$; cut -d' ' -f1-4 /proc/self/stat
sh -c 'readlink /proc/self; echo $$ $PPID'; tr '\0' ' ' < /proc/self/cmdline; echo
grep -E '^(Name|Pid|PPid|Uid|Gid):' /proc/self/status; readlink /proc/self/cwd; readlink /proc/self/exe
cd /etc && readlink /proc/self/cwd; ls /proc/self/fd | sort -n | head -3; cat /proc/1/comm
ls /proc/$$/task; ls /proc/self/task | wc -l; cut -d' ' -f1,2 /proc/$$/task/$$/stat
grep -E '^(Pid|Tgid):' /proc/$$/task/$$/status; ls /proc/$$/task/$$/ | grep -c -E '^(stat|status|comm|maps)$'
cat /proc/$$/task/12345/stat 2>&1 | sed 's/.*: //'
readlink /proc/$$/fd/1 | sed 's/[0-9]//g'""",
}


#: Run by the host's sh in a new mount namespace: a /dev like Sentrio's devfs (the host's null,
#: zero, full, random and urandom; the fd links), then the script chrooted as pid 1 of a new pid
#: namespace with its own /proc (mounted by unshare inside it, so no pid is used up before).
NATIVE_SETUP = """set -e; root=$1; script=$2
mount -t tmpfs -o mode=755 dev "$root/dev"
for name in null zero full random urandom; do
    touch "$root/dev/$name"; mount --bind "/dev/$name" "$root/dev/$name"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
exec unshare --pid --fork --mount-proc="$root/proc" chroot "$root" /bin/sh -c "$script"
"""


#: What a script reads on its standard input (others get none).
STDIN: dict[str, bytes] = {
    "stdin": b"one\ntwo words\n  leading\nno newline at the end",
    "stdin_tools": b"c\nb\na\nb\nc\nc\n",
}


def run_native(image: Path, script: str, stdin: bytes = b"", timeout: float = 60) -> Outcome:
    """The script natively, as pid 1 of a new pid namespace with its own /proc and /dev (in
    mount namespaces, so they vanish with it), chrooted."""
    command = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", NATIVE_SETUP, "setup",
               str(image), script]
    result = subprocess.run(command, input=stdin, capture_output=True, env=GUEST_ENV, timeout=timeout,
                            preexec_fn=fresh_signal_state)
    return Outcome(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
                   _shell_status(result.returncode))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("busybox-shell")
    root.chmod(0o755)
    build_busybox(root)
    return root


@pytest.fixture(scope="module")
def outcomes(image: Path) -> dict[str, tuple[Future[Outcome], Future[Outcome]]]:
    """Every script, natively and under Sentrio, all started at once."""
    with ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 2))) as pool:
        yield {name: (pool.submit(run_native, image, script, STDIN.get(name, b"")),
                      pool.submit(run_sentrio, image, ["/bin/sh", "-c", script], STDIN.get(name, b"")))
               for name, script in SCRIPTS.items()}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(name: str, outcomes: dict[str, tuple[Future[Outcome], Future[Outcome]]]) -> None:
    native, sentrio = (future.result() for future in outcomes[name])
    assert "Traceback" not in sentrio.stderr, sentrio.stderr
    assert native == sentrio, f"{name}:\n{explain(native, sentrio)}"


def test_fork_bomb_stops_at_the_pids_limit(image: Path) -> None:
    """A fork bomb under ``--pids-limit 50``: forks fail with EAGAIN, the shell says so, and
    the Sentry ends cleanly (no traceback, the guest's status) when pid 1 exits."""
    script = "bomb() { bomb | bomb & }; bomb; sleep 1; echo survived"
    result = subprocess.run(
        ["python3", "-m", "kernel", "run", "--pids-limit", "50", str(image), "--", "/bin/sh", "-c", script],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
             "SENTRIO_STRICT": "1"})
    assert "Traceback" not in result.stderr, result.stderr
    assert "Resource temporarily unavailable" in result.stderr, result.stderr
    assert (result.returncode, result.stdout) == (0, "survived\n"), result.stderr
