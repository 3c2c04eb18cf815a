/* System V semaphores: values, atomic operations, SEM_UNDO at exit, sleeping and waking,
 * timeouts, signals, removal, permissions, limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *info; };

static void report(const char *what, long r) {
    printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
    fflush(stdout);
}

static int op(int id, int num, int delta, int flags) {
    struct sembuf b = {num, delta, flags};
    return semop(id, &b, 1);
}

static void wait_for(int id, int num, int cmd) {
    while (semctl(id, num, cmd) < 1) usleep(10000);
}

static void on_usr1(int signo) { (void)signo; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int s = semget(IPC_PRIVATE, 3, 0600);
    report("semget ok", s >= 0);
    report("SETVAL 1 = 5", semctl(s, 1, SETVAL, (union semun){.val = 5}));
    report("GETVAL 1", semctl(s, 1, GETVAL));
    report("GETPID-is-me", semctl(s, 1, GETPID) == getpid());
    unsigned short all[3] = {1, 2, 3}, got[3] = {0};
    report("SETALL", semctl(s, 0, SETALL, (union semun){.array = all}));
    report("GETALL", semctl(s, 0, GETALL, (union semun){.array = got}));
    printf("values %d %d %d\n", got[0], got[1], got[2]);
    report("SETVAL too big", semctl(s, 0, SETVAL, (union semun){.val = 32768}));
    report("SETVAL negative", semctl(s, 0, SETVAL, (union semun){.val = -1}));
    report("GETVAL bad semnum", semctl(s, 3, GETVAL));
    report("bad cmd", semctl(s, 0, 99));

    /* all at once or nothing */
    struct sembuf two[2] = {{0, -1, 0}, {1, -5, IPC_NOWAIT}};
    report("semop partly impossible, nowait", semop(s, two, 2));
    report("GETVAL 0 unchanged", semctl(s, 0, GETVAL));
    struct sembuf ok[2] = {{0, -1, 0}, {2, 4, 0}};
    report("semop two", semop(s, ok, 2));
    report("GETVAL 0", semctl(s, 0, GETVAL));
    report("GETVAL 2", semctl(s, 2, GETVAL));
    report("wait-for-zero nowait", op(s, 2, 0, IPC_NOWAIT));
    report("semop no ops", semop(s, ok, 0));
    report("semop too many", semop(s, ok, 501));
    report("semop bad semnum", op(s, 3, 1, 0));
    report("semop over SEMVMX", op(s, 2, 32767, 0));
    struct timespec ts = {0, 50000000};
    struct sembuf dec = {0, -1, 0};
    report("semtimedop times out", semtimedop(s, &dec, 1, &ts));
    struct timespec bad = {0, 2000000000};
    report("semtimedop bad timeout", semtimedop(s, &dec, 1, &bad));

    /* SEM_UNDO: a child's operations are undone when it exits */
    semctl(s, 0, SETVAL, (union semun){.val = 1});
    pid_t child = fork();
    if (child == 0) {
        report("child -1 undo", op(s, 0, -1, SEM_UNDO));
        report("child +3 undo on 1", op(s, 1, 3, SEM_UNDO));
        printf("child sees %d %d\n", semctl(s, 0, GETVAL), semctl(s, 1, GETVAL));
        fflush(stdout);
        return 0;
    }
    int status;
    waitpid(child, &status, 0);
    printf("after child's exit %d %d getpid-is-child %d\n", semctl(s, 0, GETVAL), semctl(s, 1, GETVAL),
           semctl(s, 0, GETPID) == child);

    /* a sleeper woken by another process, counted by GETNCNT / GETZCNT */
    semctl(s, 0, SETVAL, (union semun){.val = 0});
    child = fork();
    if (child == 0) {
        wait_for(s, 0, GETNCNT);
        printf("child: ncnt %d zcnt %d\n", semctl(s, 0, GETNCNT), semctl(s, 0, GETZCNT));
        fflush(stdout);
        op(s, 0, 2, 0);
        return 0;
    }
    report("parent woken", op(s, 0, -2, 0));
    waitpid(child, &status, 0);
    semctl(s, 2, SETVAL, (union semun){.val = 1});
    child = fork();
    if (child == 0) {
        wait_for(s, 2, GETZCNT);
        printf("child: zcnt %d\n", semctl(s, 2, GETZCNT));
        fflush(stdout);
        op(s, 2, -1, 0);
        return 0;
    }
    report("parent waited for zero", op(s, 2, 0, 0));
    waitpid(child, &status, 0);

    /* a signal interrupts a sleeper: EINTR even with SA_RESTART */
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
    pid_t parent = getpid();
    child = fork();
    if (child == 0) {
        wait_for(s, 0, GETNCNT);
        kill(parent, SIGUSR1);
        return 0;
    }
    report("interrupted", op(s, 0, -1, 0));
    waitpid(child, &status, 0);
    report("ncnt after", semctl(s, 0, GETNCNT));

    /* removal wakes a sleeper with EIDRM */
    child = fork();
    if (child == 0) {
        report("child sleeper", op(s, 0, -1, 0));
        return 0;
    }
    wait_for(s, 0, GETNCNT);
    int removed = semctl(s, 0, IPC_RMID);
    waitpid(child, &status, 0);
    report("IPC_RMID", removed);
    report("GETVAL removed", semctl(s, 0, GETVAL));

    /* keys and sizes */
    key_t key = 0x5e19;
    int k = semget(key, 2, IPC_CREAT | 0640);
    report("semget key ok", k >= 0);
    report("same with fewer", semget(key, 1, 0) == k);
    report("more than it has", semget(key, 3, 0));
    report("excl", semget(key, 2, IPC_CREAT | IPC_EXCL));
    report("new with 0", semget(IPC_PRIVATE, 0, 0600));
    report("too many", semget(IPC_PRIVATE, 32001, 0600));
    struct semid_ds ds;
    report("IPC_STAT", semctl(k, 0, IPC_STAT, (union semun){.buf = &ds}));
    printf("nsems %lu mode %o otime %ld\n", (unsigned long)ds.sem_nsems, ds.sem_perm.mode, (long)ds.sem_otime);
    ds.sem_perm.mode = 0604;
    report("IPC_SET", semctl(k, 0, IPC_SET, (union semun){.buf = &ds}));

    /* permissions, as uid 1000 without capabilities */
    child = fork();
    if (child == 0) {
        if (setgid(1000) || setuid(1000)) return 1;
        report("user GETVAL", semctl(k, 0, GETVAL));
        report("user SETVAL", semctl(k, 0, SETVAL, (union semun){.val = 1}));
        report("user semop", op(k, 0, 1, 0));
        report("user wait zero", op(k, 0, 0, 0));
        report("user semget rw", semget(key, 0, 0600));
        report("user semget r", semget(key, 0, 0004) == k);
        report("user rmid", semctl(k, 0, IPC_RMID));
        return 0;
    }
    waitpid(child, &status, 0);

    struct seminfo info;
    semctl(0, 0, IPC_INFO, (union semun){.info = &info});
    printf("IPC_INFO msl %d mni %d mns %d opm %d vmx %d aem %d usz %d\n", info.semmsl, info.semmni, info.semmns,
           info.semopm, info.semvmx, info.semaem, info.semusz);
    semctl(0, 0, SEM_INFO, (union semun){.info = &info});
    printf("SEM_INFO sets %d sems %d\n", info.semusz, info.semaem);
    report("IPC_RMID key", semctl(k, 0, IPC_RMID));
    return 0;
}
