/* System V shared memory: shared with a child, across exec, IPC_RMID while attached,
 * permissions, limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long r) {
    printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
}

static void stat_of(const char *what, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0) {
        printf("%s: stat %s\n", what, strerror(errno));
        return;
    }
    printf("%s: size %zu nattch %lu mode %o dest %d cpid-is-me %d key %d\n", what, ds.shm_segsz,
           (unsigned long)ds.shm_nattch, ds.shm_perm.mode & 0777, !!(ds.shm_perm.mode & SHM_DEST),
           ds.shm_cpid == getpid(), ds.shm_perm.__key);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3) { /* after exec: the segment is still there, not attached */
        int id = atoi(argv[2]);
        struct shmid_ds ds;
        shmctl(id, IPC_STAT, &ds);
        char *p = shmat(id, NULL, SHM_RDONLY);
        printf("exec'd: nattch before %lu sees '%s'\n", (unsigned long)ds.shm_nattch, p);
        return 0;
    }
    int id = shmget(IPC_PRIVATE, 10000, 0600);
    report("shmget ok", id >= 0);
    stat_of("new", id);
    char *p = shmat(id, NULL, 0);
    report("shmat ok", p != (void *)-1);
    printf("zeroed %d\n", p[0] == 0 && p[9999] == 0);
    strcpy(p, "from parent");
    stat_of("attached", id);
    char *q = shmat(id, NULL, SHM_RDONLY);
    printf("second attach sees '%s', nattch now 2: ", q);
    stat_of("", id);
    report("shmdt second", shmdt(q));
    report("shmdt again", shmdt(q));
    report("shmdt unaligned", shmdt(p + 1));

    pid_t child = fork();
    if (child == 0) {
        printf("child sees '%s'\n", p);
        strcpy(p, "from child");
        stat_of("the child inherits the attachment", id);  /* nattch 2: fork counts it */
        report("child shmdt of the inherited attachment", shmdt(p));
        stat_of("after the child's shmdt", id);
        return 0;
    }
    int status;
    waitpid(child, &status, 0);
    printf("parent sees '%s'\n", p);

    child = fork();
    if (child == 0) {
        char arg[16];
        snprintf(arg, sizeof arg, "%d", id);
        execl("/proc/self/exe", argv[0], "exec", arg, (char *)NULL);
        execl(argv[0], argv[0], "exec", arg, (char *)NULL);
        return 127;
    }
    waitpid(child, &status, 0);

    report("IPC_RMID attached", shmctl(id, IPC_RMID, NULL));
    stat_of("removed", id);
    printf("still readable '%s'\n", p);
    report("shmdt last", shmdt(p));
    stat_of("after last detach", id);

    /* keys, sizes, flags */
    int k = shmget(0x5e20, 4096, IPC_CREAT | 0640);
    report("shmget key ok", k >= 0);
    report("same key smaller", shmget(0x5e20, 100, 0) == k);
    report("same key bigger", shmget(0x5e20, 8192, 0));
    report("excl", shmget(0x5e20, 4096, IPC_CREAT | IPC_EXCL));
    report("size 0", shmget(IPC_PRIVATE, 0, 0600));
    report("shmat unaligned", (long)shmat(k, (void *)0x10001, 0));
    char *r = shmat(k, (void *)0x20000001, SHM_RND);
    report("shmat rounded", r == (void *)0x20000000);
    report("shmat over it", (long)shmat(k, (void *)0x20000000, 0));
    report("shmat remap", shmat(k, (void *)0x20000000, SHM_REMAP) == (void *)0x20000000);
    report("remap without address", (long)shmat(k, NULL, SHM_REMAP));
    report("shmat bad id", (long)shmat(k + 1, NULL, 0));

    /* permissions, as uid 1000 without capabilities */
    int ro = shmget(IPC_PRIVATE, 4096, 0644);
    child = fork();
    if (child == 0) {
        if (setgid(1000) || setuid(1000)) return 1;
        report("user attach private", (long)shmat(k, NULL, SHM_RDONLY));
        report("user attach rw", (long)shmat(ro, NULL, 0));
        report("user attach ro", shmat(ro, NULL, SHM_RDONLY) != (void *)-1);
        report("user rmid", shmctl(ro, IPC_RMID, NULL));
        return 0;
    }
    waitpid(child, &status, 0);

    struct shminfo info;
    int top = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
    printf("IPC_INFO top-ok %d mni %lu min %lu\n", top >= ro % 32768, info.shmmni, info.shmmin);
    struct shm_info usage;
    shmctl(0, SHM_INFO, (struct shmid_ds *)&usage);
    printf("SHM_INFO segments %d\n", usage.used_ids);
    report("rmid k", shmctl(k, IPC_RMID, NULL));
    report("rmid ro", shmctl(ro, IPC_RMID, NULL));
    return 0;
}
