/* /proc/sys/fs/mqueue: the POSIX message queue limits of the IPC namespace (a fresh one's
 * defaults), as glibc-using programs and `ipcs`-like tools read them. */
#include <stdio.h>

int main(void) {
    const char *names[] = {"msg_default", "msg_max", "msgsize_default", "msgsize_max", "queues_max"};
    for (int i = 0; i < 5; i++) {
        char path[64], value[32] = "";
        snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", names[i]);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(value, sizeof value, f)) { printf("%s: missing\n", names[i]); continue; }
        printf("%s: %s", names[i], value);
        fclose(f);
    }
    return 0;
}
