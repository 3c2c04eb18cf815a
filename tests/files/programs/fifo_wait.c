/* Opening a FIFO waits for the other end: a reader and a writer in two processes meet; an open
 * with no other end is interrupted by a signal (EINTR without SA_RESTART) and leaves no end
 * behind; with SA_RESTART it is restarted and completes once the other end comes. */
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

static void on_alarm(int signo) { (void)signo; }

static void alarm_in_ms(int ms, int flags) {
    struct sigaction action = {.sa_handler = on_alarm, .sa_flags = flags};
    sigaction(SIGALRM, &action, NULL);
    struct itimerval timer = {.it_value = {.tv_sec = 0, .tv_usec = ms * 1000}};
    setitimer(ITIMER_REAL, &timer, NULL);
}

int main(void) {
    char buf[16] = {0};
    int fd, status;
    T(mkfifo("/tmp/meet", 0600));

    pid_t writer = fork();
    if (writer == 0) {
        int w = open("/tmp/meet", O_WRONLY);  /* waits for the parent's reader */
        _exit(w < 0 ? 1 : write(w, "met", 3) == 3 ? 0 : 2);
    }
    usleep(50000);
    T(fd = open("/tmp/meet", O_RDONLY));
    T(read(fd, buf, sizeof buf));
    printf("read: %s\n", buf);
    T(waitpid(writer, &status, 0) == writer && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    T(close(fd));

    alarm_in_ms(50, 0);
    T(open("/tmp/meet", O_RDONLY));                  /* no writer: EINTR */
    T(open("/tmp/meet", O_WRONLY | O_NONBLOCK));     /* the interrupted reader is gone: ENXIO */

    pid_t late = fork();
    if (late == 0) {
        usleep(150000);
        int w = open("/tmp/meet", O_WRONLY);
        _exit(w < 0 ? 1 : write(w, "late", 4) == 4 ? 0 : 2);
    }
    alarm_in_ms(50, SA_RESTART);
    memset(buf, 0, sizeof buf);
    T(fd = open("/tmp/meet", O_RDONLY));             /* restarted after the alarm */
    T(read(fd, buf, sizeof buf));
    printf("read: %s\n", buf);
    T(waitpid(late, &status, 0) == late && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    T(close(fd));
    T(unlink("/tmp/meet"));
    return 0;
}
