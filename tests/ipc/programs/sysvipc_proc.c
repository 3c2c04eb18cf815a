/* /proc/sysvipc and the IPC limits of /proc/sys/kernel. Times and pids vary between runs, so
 * rows are printed without them; headers are printed as they are. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

static void show(const char *path, int fields) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("%s: missing\n", path); return; }
    char line[512];
    if (fgets(line, sizeof line, f)) printf("%s", line);
    while (fgets(line, sizeof line, f)) {
        char *save, *word = strtok_r(line, " \n", &save);
        for (int i = 0; word && i < fields; i++, word = strtok_r(NULL, " \n", &save)) printf("%s ", word);
        printf("\n");
    }
    fclose(f);
}

static void cat(const char *path) {
    char buf[128] = "";
    FILE *f = fopen(path, "r");
    if (!f) { printf("%s: missing\n", path); return; }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    printf("%s: %s", path, buf);
    fclose(f);
}

int main(void) {
    int q = msgget(0x1234, IPC_CREAT | 0640);
    struct { long mtype; char text[8]; } m = {1, "hello"};
    msgsnd(q, &m, 6, 0);
    semget(0x2345, 3, IPC_CREAT | 0600);
    int shm = shmget(IPC_PRIVATE, 5000, 0604);
    void *p = shmat(shm, NULL, 0);
    shmctl(shm, IPC_RMID, NULL);
    show("/proc/sysvipc/msg", 5);
    show("/proc/sysvipc/sem", 4);
    show("/proc/sysvipc/shm", 4);
    shmdt(p);
    show("/proc/sysvipc/shm", 4);
    const char *limits[] = {"msgmax", "msgmnb", "msgmni", "sem", "shmmax", "shmall", "shmmni"};
    for (int i = 0; i < 7; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/sys/kernel/%s", limits[i]);
        cat(path);
    }
    return 0;
}
