/* fanotify_init and fanotify_mark as a container without CAP_SYS_ADMIN sees them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *what, long result) {
    if (result < 0)
        printf("%s: %ld %s\n", what, result, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
}

int main(void) {
    show("fanotify_init notif", fanotify_init(FAN_CLASS_NOTIF, O_RDONLY));
    show("fanotify_init content", fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY));
    show("fanotify_mark closed fd", fanotify_mark(99, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, "/"));
    int fd = open("/", O_RDONLY);
    show("fanotify_mark not fanotify", fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, "/"));
    return 0;
}
