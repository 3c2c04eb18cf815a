/* System V message queues: types, flags, limits, blocking, removal, permissions. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSG_COPY
#define MSG_COPY 040000 /* musl lacks it */
#endif

struct msg { long mtype; char text[64]; };

static void report(const char *what, long r) {
    printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
    fflush(stdout);
}

static int send(int id, long type, const char *text, int flags) {
    struct msg m = {type, ""};
    strcpy(m.text, text);
    return msgsnd(id, &m, strlen(text) + 1, flags);
}

static void receive(int id, long type, size_t size, int flags) {
    struct msg m = {0, ""};
    errno = 0;
    long r = msgrcv(id, &m, size, type, flags);
    printf("msgrcv type %ld size %zu flags %#o: %ld %s mtype %ld text '%.*s'\n", type, size, flags, r,
           r < 0 ? strerror(errno) : "", m.mtype, r < 0 ? 0 : (int)r, m.text);
}

static void on_usr1(int signo) { (void)signo; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int q = msgget(IPC_PRIVATE, 0600);
    report("msgget private ok", q >= 0);
    report("send 3", send(q, 3, "three", 0));
    report("send 1", send(q, 1, "one", 0));
    report("send 2", send(q, 2, "two", 0));
    report("send 1b", send(q, 1, "one again", 0));
    struct msqid_ds ds;
    report("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    printf("qnum %lu cbytes %lu qbytes %lu lspid-is-me %d lrpid %d mode %o uid %u cuid %u\n",
           (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes,
           ds.msg_lspid == getpid(), ds.msg_lrpid, ds.msg_perm.mode, ds.msg_perm.uid, ds.msg_perm.cuid);
    receive(q, 0, 64, MSG_COPY | IPC_NOWAIT);
    receive(q, 2, 64, MSG_COPY | IPC_NOWAIT);
    receive(q, 9, 64, MSG_COPY | IPC_NOWAIT);
    receive(q, 0, 64, MSG_COPY);
    receive(q, 2, 64, 0);
    receive(q, -2, 64, 0);
    receive(q, 1, 64, MSG_EXCEPT);
    receive(q, 1, 3, 0);
    receive(q, 1, 3, MSG_NOERROR);
    receive(q, 0, 64, IPC_NOWAIT);
    receive(q, 7, 64, IPC_NOWAIT);
    report("send type 0", send(q, 0, "x", 0));
    report("send too long", msgsnd(q, &(struct msg){1, ""}, 8193, 0));
    report("send bad id", send(q + 1, 1, "x", 0));
    report("msgrcv negative size", msgrcv(q, &(struct msg){0}, -1, 0, 0));

    /* a queue full of bytes: IPC_NOWAIT says EAGAIN */
    ds.msg_qbytes = 10;
    report("IPC_SET qbytes 10", msgctl(q, IPC_SET, &ds));
    report("send 6 bytes", send(q, 5, "hello", 0));
    report("send 6 more, nowait", send(q, 5, "world", IPC_NOWAIT));
    receive(q, 5, 64, 0);

    /* keys */
    key_t key = 0x5e17;
    int k = msgget(key, IPC_CREAT | 0640);
    report("msgget key create ok", k >= 0);
    report("msgget key again same", msgget(key, 0) == k);
    report("msgget key excl", msgget(key, IPC_CREAT | IPC_EXCL | 0640));
    report("msgget unknown key", msgget(0x5e18, 0600));

    /* a receiver sleeping until a sender comes */
    pid_t child = fork();
    if (child == 0) {
        struct msg m;
        long r = msgrcv(k, &m, sizeof m.text, 4, 0);
        printf("child got %ld '%s'\n", r, r > 0 ? m.text : "");
        return 0;
    }
    usleep(100000);
    int sent = send(k, 4, "wake", 0), status;
    waitpid(child, &status, 0);
    report("send to sleeper", sent);

    /* a signal interrupts a sleeping receiver: EINTR even with SA_RESTART */
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
    child = fork();
    if (child == 0) {
        struct msg m;
        long r = msgrcv(k, &m, sizeof m.text, 4, 0);
        printf("child interrupted: %ld %s\n", r, strerror(errno));
        fflush(stdout);
        r = msgrcv(k, &m, sizeof m.text, 4, 0);
        printf("child after removal: %ld %s\n", r, strerror(errno));
        return 0;
    }
    usleep(100000);
    kill(child, SIGUSR1);
    usleep(100000);
    int removed = msgctl(k, IPC_RMID, NULL);
    waitpid(child, &status, 0);
    report("IPC_RMID with a sleeper", removed);
    report("msgget key after removal", msgget(key, 0));

    /* permissions, as uid 1000 without capabilities */
    int priv = msgget(IPC_PRIVATE, 0600), pub = msgget(IPC_PRIVATE, 0644);
    child = fork();
    if (child == 0) {
        if (setgid(1000) || setuid(1000)) return 1;
        report("user send private", send(priv, 1, "x", 0));
        report("user stat private", msgctl(priv, IPC_STAT, &ds));
        report("user stat public", msgctl(pub, IPC_STAT, &ds));
        report("user send public", send(pub, 1, "x", 0));
        report("user rmid public", msgctl(pub, IPC_RMID, NULL));
        return 0;
    }
    waitpid(child, &status, 0);

    struct msginfo info;
    int top = msgctl(0, IPC_INFO, (struct msqid_ds *)&info);
    printf("IPC_INFO top-ok %d max %d mnb %d mni %d ssz %d seg %d pool %d\n", top >= pub % 32768, info.msgmax,
           info.msgmnb, info.msgmni, info.msgssz, info.msgseg, info.msgpool);
    send(pub, 1, "abc", 0);
    msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
    printf("MSG_INFO queues %d messages %d bytes %d\n", info.msgpool, info.msgmap, info.msgtql);
    int stat_id = msgctl(pub % 32768, MSG_STAT, &ds);
    printf("MSG_STAT id-matches %d qnum %lu\n", stat_id == pub, (unsigned long)ds.msg_qnum);
    report("IPC_RMID", msgctl(q, IPC_RMID, NULL));
    report("IPC_RMID again", msgctl(q, IPC_RMID, NULL));
    msgctl(priv, IPC_RMID, NULL);
    msgctl(pub, IPC_RMID, NULL);
    report("bad cmd", msgctl(pub, 99, &ds));
    return 0;
}
