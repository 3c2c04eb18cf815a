/* An old static binary's way to the time: calls into the fixed vsyscall page
 * (0xffffffffff600000: gettimeofday, +0x400: time, +0x800: getcpu). */
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef long (*gettimeofday_fn)(struct timeval *, struct timezone *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

int main(void)
{
    gettimeofday_fn vgettimeofday = (gettimeofday_fn)0xffffffffff600000UL;
    time_fn vtime = (time_fn)0xffffffffff600400UL;
    getcpu_fn vgetcpu = (getcpu_fn)0xffffffffff600800UL;
    struct timeval tv = { 0, 0 }, now;
    long r = vgettimeofday(&tv, NULL);
    syscall(SYS_gettimeofday, &now, NULL);
    printf("gettimeofday: %ld, close to the system call's: %d\n", r, tv.tv_sec > 0 && now.tv_sec - tv.tv_sec <= 2);
    long stored = 0;
    long t = vtime(&stored);
    printf("time: agrees %d, stored %d\n", t > 0 && now.tv_sec - t <= 2 && t - now.tv_sec <= 2, stored == t);
    printf("time(NULL) close %d\n", now.tv_sec - vtime(NULL) <= 2);
    unsigned cpu = 1000, node = 1000;
    r = vgetcpu(&cpu, &node, NULL);
    printf("getcpu: %ld, cpu valid %d, node %u\n", r, cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF), node);
    return 0;
}
