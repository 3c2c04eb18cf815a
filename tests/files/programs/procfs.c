/* /proc as a process sees itself, and /proc/self links that must stay inside the sandbox. */
#include "check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static void show(const char *path) {
    char buf[4096] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("%s: %s\n", path, errname(errno)); return; }
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    for (long i = 0; i < n; i++) if (buf[i] == 0) buf[i] = ' ';
    printf("%s: %s%s", path, buf, n && buf[n - 1] == '\n' ? "" : "\n");
}

static void link_of(const char *path) {
    char buf[256] = {0};
    if (readlink(path, buf, sizeof buf - 1) < 0) printf("%s: %s\n", path, errname(errno));
    else printf("%s -> %s\n", path, buf);
}

int main(int argc, char **argv) {
    show("/proc/self/cmdline");
    show("/proc/self/comm");
    link_of("/proc/self/exe");
    link_of("/proc/self/root");
    T(chdir("/data"));
    link_of("/proc/self/cwd");
    int fd;
    T(fd = open("existing", O_RDONLY));
    link_of("/proc/self/fd/3");
    int p[2];
    T(pipe(p));
    char buf[64] = {0};
    T(readlink("/proc/self/fd/4", buf, sizeof buf) > 0);
    printf("pipe link starts with pipe:[ %d\n", strncmp(buf, "pipe:[", 6) == 0);
    T(write(p[1], "pp", 2));
    int again;
    T(again = open("/proc/self/fd/4", O_RDONLY));
    memset(buf, 0, sizeof buf);
    T(read(again, buf, sizeof buf));
    printf("through the link: %s\n", buf);
    T(close(again));
    show("/proc/self/fd/3");
    show("/proc/sys/kernel/ostype");
    show("/sys/devices/system/cpu/possible");
    T(open("/proc/self/root/../../../etc/shadow", O_RDONLY));
    T(open("/proc/self/cwd/../../MARKER", O_RDONLY) >= 0);
    T(open("/proc/self/status", O_WRONLY));
    T(mkdir("/proc/x", 0755));
    T(access("/proc/1/maps", R_OK));
    T(access("/proc/2", F_OK));
    struct stat st;
    T(stat("/proc/self", &st) == 0 && S_ISDIR(st.st_mode));
    return 0;
}
