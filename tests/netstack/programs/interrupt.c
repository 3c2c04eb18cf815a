/* Signals and blocking socket calls: without SA_RESTART a signal ends recv/accept/connect-wait
   with EINTR; with SA_RESTART they go on, except on a socket with a timeout (SO_RCVTIMEO),
   where Linux still says EINTR; a partly done send returns what it sent. */
#include "check.h"
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile int alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

static void handler(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
}

static void arm(long usec) {
    struct itimerval it = {{0, 0}, {0, usec}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
    int sv[2];
    char buf[64];
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

    handler(0);
    arm(50000);
    T(recv(sv[0], buf, sizeof buf, 0));
    printf("alarms %d\n", alarms);

    /* SA_RESTART: the read goes on; a child writes later and the read gets it */
    handler(SA_RESTART);
    pid_t kid = fork();
    if (kid == 0) {
        usleep(200000);
        write(sv[1], "late", 4);
        _exit(0);
    }
    arm(50000);
    T(read(sv[0], buf, sizeof buf));
    printf("alarms %d\n", alarms);
    waitpid(kid, NULL, 0);

    /* with a receive timeout, even SA_RESTART gives EINTR */
    struct timeval tv = {5, 0};
    T(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    arm(50000);
    T(recv(sv[0], buf, sizeof buf, 0));
    printf("alarms %d\n", alarms);

    /* accept on a listener */
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un { unsigned short f; char p[108]; } un = {1, "\0interrupt"};
    T(bind(l, (struct sockaddr *)&un, 12));
    T(listen(l, 1));
    handler(0);
    arm(50000);
    T(accept(l, NULL, NULL));

    /* a blocking send that fills the buffer, interrupted after part of it went */
    int v = 4096;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    static char big[1 << 20];
    arm(100000);
    ssize_t n = send(sv[1], big, sizeof big, 0);
    printf("partial send %d errno %s\n", n > 0 && n < (ssize_t)sizeof big, n < 0 ? errname(errno) : "-");
    arm(100000);
    n = send(sv[1], big, sizeof big, 0);
    printf("full buffer send %ld %s\n", (long)n, n < 0 ? errname(errno) : "-");
    printf("alarms %d\n", alarms);
    return 0;
}
