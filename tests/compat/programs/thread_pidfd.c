/* Thread pidfds (PIDFD_THREAD, Linux 6.9) and pidfd_send_signal's scopes: a pidfd naming one
 * thread, signalled alone or as its process, readable (and hung up) once the thread has ended;
 * PIDFD_SIGNAL_THREAD on a process's pidfd (its leader, SI_TKILL), PIDFD_SIGNAL_PROCESS_GROUP,
 * and the flags' errors. Usage: thread_pidfd. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#define SIGNAL_THREAD 1
#define SIGNAL_THREAD_GROUP 2
#define SIGNAL_PROCESS_GROUP 4

static void show(const char *what, long result)
{
    if (result < 0)
        printf("%s: %ld %s\n", what, result, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, result);
}

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static long send(int fd, int sig, unsigned flags) { return syscall(SYS_pidfd_send_signal, fd, sig, NULL, flags); }

static volatile pid_t handled_by, worker_tid;
static volatile int handled_code;
static int gate[2];

static void handler(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)context;
    handled_by = gettid();
    handled_code = info->si_code;
}

static void *worker(void *arg)
{
    (void)arg;
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
    worker_tid = gettid();
    char byte;
    while (read(gate[0], &byte, 1) < 0 && errno == EINTR)
        ;  /* until the main thread lets it end */
    return NULL;
}

static int readiness(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 0);
    return p.revents;
}

int main(void)
{
    struct sigaction action = {0};
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &action, NULL);
    sigaction(SIGUSR2, &action, NULL);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);  /* a process-directed SIGUSR2 goes to the worker */
    pipe(gate);
    pthread_t thread;
    pthread_create(&thread, NULL, worker, NULL);
    while (!worker_tid)
        usleep(1000);

    show("pidfd_open of a thread without PIDFD_THREAD", pidfd_open(worker_tid, 0));
    int tfd = pidfd_open(worker_tid, PIDFD_THREAD);
    show("pidfd_open PIDFD_THREAD", tfd < 0 ? -1 : 0);
    printf("thread pidfd readiness while it runs: %#x\n", readiness(tfd));
    show("send SIGUSR1 to the thread", send(tfd, SIGUSR1, 0));
    while (!handled_by)
        usleep(1000);
    printf("handled by the thread %d, si_code SI_TKILL %d\n", handled_by == worker_tid, handled_code == SI_TKILL);
    handled_by = 0;
    show("send SIGUSR2 to the thread's process", send(tfd, SIGUSR2, SIGNAL_THREAD_GROUP));
    while (!handled_by)
        usleep(1000);
    printf("handled by the only thread not blocking it %d, si_code SI_USER %d\n", handled_by == worker_tid,
           handled_code == SI_USER);
    show("two scopes at once", send(tfd, SIGUSR1, SIGNAL_THREAD | SIGNAL_THREAD_GROUP));
    show("an unknown flag", send(tfd, SIGUSR1, 8));

    int pfd = pidfd_open(getpid(), 0);
    handled_by = 0;
    show("PIDFD_SIGNAL_THREAD on the process's pidfd", send(pfd, SIGUSR1, SIGNAL_THREAD));
    printf("handled by the leader %d, si_code SI_TKILL %d\n", handled_by == getpid(), handled_code == SI_TKILL);
    int dup = syscall(SYS_pidfd_getfd, tfd, gate[1], 0);
    show("pidfd_getfd through the thread's pidfd", dup < 0 ? -1 : 0);

    write(gate[1], "x", 1);
    pthread_join(thread, NULL);
    printf("thread pidfd readiness once it ended: %#x\n", readiness(tfd));
    show("send to the ended thread", send(tfd, SIGUSR1, 0));
    show("pidfd_open PIDFD_THREAD of the leader", pidfd_open(getpid(), PIDFD_THREAD) < 0 ? -1 : 0);

    fflush(stdout);
    pid_t leader = fork();
    if (leader == 0) {
        setpgid(0, 0);
        pause();
        _exit(0);
    }
    pid_t member = fork();
    if (member == 0) {
        pause();
        _exit(0);
    }
    usleep(100000);  /* the first child has made its group */
    int lfd = pidfd_open(leader, 0), mfd = pidfd_open(member, 0);
    show("PROCESS_GROUP of a child that is not a group leader", send(mfd, SIGTERM, SIGNAL_PROCESS_GROUP));
    show("PROCESS_GROUP of a group leader", send(lfd, SIGTERM, SIGNAL_PROCESS_GROUP));
    int status;
    waitpid(leader, &status, 0);
    printf("the leader died of SIGTERM %d\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    kill(member, SIGKILL);
    waitpid(member, &status, 0);
    return 0;
}
