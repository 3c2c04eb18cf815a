/* sched_setaffinity/sched_getaffinity: a mask set is the mask read back, a thread and a
 * forked child inherit it, an empty mask or one of CPUs that do not exist is EINVAL, a thread
 * that does not exist is ESRCH. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, pid_t pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(pid, sizeof set, &set) < 0) { printf("%s: %s\n", what, strerror(errno)); return; }
    printf("%s: %d cpus, first %d\n", what, CPU_COUNT(&set), CPU_ISSET(0, &set) ? 0 : 1);
}

static void report(const char *what, int rc) {
    printf("%s: %d %s\n", what, rc, rc < 0 ? strerror(errno) : "");
}

static void *thread(void *arg) {
    show("thread", 0);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    show("initial", 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(online > 1 ? 1 : 0, &set);
    printf("set one cpu: %d\n", sched_setaffinity(0, sizeof set, &set));
    show("after", 0);
    pthread_t t;
    pthread_create(&t, NULL, thread, NULL);
    pthread_join(t, NULL);
    pid_t child = fork();
    if (child == 0) { show("child", 0); _exit(0); }
    waitpid(child, NULL, 0);
    CPU_ZERO(&set);
    report("empty", sched_setaffinity(0, sizeof set, &set));
    CPU_SET(1000, &set);
    report("only a cpu that does not exist", sched_setaffinity(0, sizeof set, &set));
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    report("no such thread", sched_setaffinity(99999, sizeof set, &set));
    report("get of no such thread", sched_getaffinity(99999, sizeof set, &set));
    report("back to cpu 0", sched_setaffinity(0, sizeof set, &set));
    return 0;
}
