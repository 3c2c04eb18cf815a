/* Who may signal whom (kill_ok_by_cred): the sender's real or effective uid against the
 * target's real or saved uid, CAP_KILL, SIGCONT within a session, process groups, kill(-1),
 * and every call of the kill family. The targets hold until their pipe closes, so they end
 * even when nobody may kill them. */
#include "perm.h"

static int hold[2];

/* A process that becomes r/e/s (if it may), optionally leads a new session or joins a group,
 * says it is ready, and waits for the end of the hold pipe. */
static pid_t target(uid_t r, uid_t e, uid_t s, int new_session, pid_t join_group) {
    int ready[2];
    pipe(ready);
    pid_t pid = fork();
    if (pid == 0) {
        close(hold[1]);
        if (new_session) setsid();
        else if (join_group >= 0) setpgid(0, join_group);
        setresuid(r, e, s);
        write(ready[1], "x", 1);
        char byte;
        read(hold[0], &byte, 1);
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);
    close(ready[0]);
    close(ready[1]);
    return pid;
}

static int sigqueue_code(pid_t pid, int sig, int code) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = sig;
    info.si_code = code;
    return syscall(SYS_rt_sigqueueinfo, pid, sig, &info);
}

static int tgsigqueue_code(pid_t tgid, pid_t tid, int sig, int code) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = sig;
    info.si_code = code;
    return syscall(SYS_rt_tgsigqueueinfo, tgid, tid, sig, &info);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    setpgid(0, 0); /* natively, the test runner's group is not ours to signal */
    signal(SIGUSR1, SIG_IGN);
    pipe(hold);
    pid_t other = target(1001, 1001, 1001, 0, 0);          /* in our group */
    pid_t lone = target(1001, 1001, 1001, 1, -1);          /* its own session and group */
    pid_t saved = target(1001, 1001, 1000, 0, -1);         /* saved uid 1000 */
    pid_t real = target(1000, 1001, 1001, 0, -1);          /* real uid 1000 */
    pid_t leader = target(1001, 1001, 1001, 0, 0);
    setpgid(leader, leader);
    target(1000, 1000, 1000, 0, leader);                    /* a group of 1001 and 1000 */
    pid_t gone = fork();                                    /* a pid nobody has any more */
    if (gone == 0) _exit(0);
    waitpid(gone, NULL, 0);

    pid_t sender = fork();
    if (sender == 0) {
        close(hold[1]);
        TRY(setresuid(1000, 1000, 1000));
        TRY(kill(other, 0));
        TRY(kill(other, SIGCONT));
        TRY(kill(lone, SIGCONT));
        TRY(kill(lone, 0));
        TRY(kill(saved, SIGUSR1));
        TRY(kill(real, SIGUSR1));
        TRY(kill(getppid(), 0));
        TRY(kill(getpid(), 0));
        TRY(syscall(SYS_tkill, other, 0));
        TRY(syscall(SYS_tgkill, other, other, 0));
        TRY(syscall(SYS_tgkill, saved, saved, 0));
        TRY(syscall(SYS_tkill, other, 99));
        TRY(sigqueue_code(other, SIGUSR1, SI_QUEUE));
        TRY(sigqueue_code(saved, SIGUSR1, SI_QUEUE));
        TRY(sigqueue_code(saved, SIGUSR1, SI_USER));
        TRY(tgsigqueue_code(other, other, SIGUSR1, SI_QUEUE));
        TRY(tgsigqueue_code(real, real, SIGUSR1, SI_QUEUE));
        TRY(kill(-leader, 0));
        TRY(kill(-lone, 0));
        TRY(kill(-lone, SIGCONT));
        TRY(kill(-1, 0));
        TRY(kill(gone, 0));
        fflush(stdout);
        _exit(0);
    }
    waitpid(sender, NULL, 0);

    printf("-- from the first process\n");
    TRY(kill(other, 0));
    TRY(kill(other, SIGCONT));
    TRY(kill(lone, SIGCONT));
    TRY(syscall(SYS_tgkill, lone, lone, 0));
    TRY(sigqueue_code(lone, SIGUSR1, SI_QUEUE));
    TRY(kill(-leader, 0));
    TRY(kill(0, 0));

    close(hold[1]);
    while (wait(NULL) > 0) {
    }
    return 0;
}
