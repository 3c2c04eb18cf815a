/* Waits for SIGINT (caught), then reads /etc/greeting from the image and prints it: a file
 * system that still answers after a Ctrl-C, which the terminal sends to the whole foreground
 * process group the Sentry runs in. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void caught(int sig) {
    (void)sig;
    interrupted = 1;
}

int main(void) {
    signal(SIGINT, caught);
    printf("ready\n");
    fflush(stdout);
    while (!interrupted)
        pause();
    char buffer[256];
    int fd = open("/etc/greeting", O_RDONLY);
    if (fd < 0) {
        perror("open /etc/greeting");
        return 1;
    }
    ssize_t length = read(fd, buffer, sizeof buffer);
    if (length < 0) {
        perror("read /etc/greeting");
        return 1;
    }
    printf("interrupted, then read: %.*s", (int)length, buffer);
    return 0;
}
