/* The demo program: greets, shows the sandbox's view of the system, and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("Hello");
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("!\n");
    printf("kernel: %s %s %s (%s)\n", u.sysname, u.release, u.machine, u.nodename);
    printf("pid %d, parent %d, uid %d\n", getpid(), getppid(), getuid());
    char *buffer = malloc(1 << 20);
    memset(buffer, 7, 1 << 20);
    long sum = 0;
    for (int i = 0; i < 1 << 20; i++)
        sum += buffer[i];
    free(buffer);
    struct timespec t0, t1, pause = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long slept_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("touched 1 MiB (sum %ld), slept %s 20 ms\n", sum, slept_ms >= 20 ? ">=" : "<");
    return 0;
}
