/* The vDSO: where AT_SYSINFO_EHDR points, that /proc/self/maps names it, and that the clocks
 * read through it (glibc's clock_gettime, gettimeofday, time) agree with the same clocks read
 * by a real system call, in the first program, a forked child and an exec'd one.
 * Usage: vdso [again] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static void check_clock(const char *name, clockid_t clock)
{
    struct timespec before, through_vdso, after;
    syscall(SYS_clock_gettime, clock, &before);
    int r = clock_gettime(clock, &through_vdso);
    syscall(SYS_clock_gettime, clock, &after);
    printf("%s: %d, %s\n", name, r,
           ns(before) <= ns(through_vdso) && ns(through_vdso) <= ns(after) ? "between two system calls"
                                                                           : "out of order");
}

static void check_all(const char *who)
{
    unsigned long base = getauxval(AT_SYSINFO_EHDR);
    printf("%s: AT_SYSINFO_EHDR %s, ELF image %s\n", who, base ? "set" : "missing",
           base && memcmp((void *)base, "\177ELF", 4) == 0 ? "there" : "absent");
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    int named = 0;
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "[vdso]") && strtoul(line, NULL, 16) == base)
            named = 1;
    printf("maps names it at that address: %s\n", named ? "yes" : "no");
    check_clock("CLOCK_REALTIME", CLOCK_REALTIME);
    check_clock("CLOCK_MONOTONIC", CLOCK_MONOTONIC);
    check_clock("CLOCK_BOOTTIME", CLOCK_BOOTTIME);
    struct timeval tv;
    struct timespec after;
    gettimeofday(&tv, NULL);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &after);
    printf("gettimeofday: %s\n", tv.tv_sec * 1000000LL + tv.tv_usec <= ns(after) / 1000 ? "not ahead" : "ahead");
    time_t seconds = time(NULL);
    printf("time: %s\n", seconds <= syscall(SYS_time, NULL) ? "not ahead" : "ahead");
    struct timespec cpu;
    for (volatile long i = 0; i < 10000000; i++)
        ;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);  /* no vDSO path: a system call */
    printf("process CPU time: %s\n", ns(cpu) > 0 ? "counted" : "zero");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        check_all("exec'd");
        return 0;
    }
    check_all("first");
    pid_t child = fork();
    if (child == 0) {
        check_all("forked");
        execl(argv[0], argv[0], "again", (char *)NULL);
        return 127;
    }
    int status;
    waitpid(child, &status, 0);
    printf("child: %d\n", WEXITSTATUS(status));
    return 0;
}
