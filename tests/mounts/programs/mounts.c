/* mount(2), umount2(2) and /proc/self/mountinfo as a container's root with CAP_SYS_ADMIN sees
 * them: one line per call, its result and errno name. The image has /data/file, /data/sub and
 * empty directories /mnt/t, /mnt/b, /mnt/t2, /mnt/b2, /mnt/m, /mnt/p. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, int rc) {
    printf("%s: %d %s\n", what, rc, rc < 0 ? strerrorname_np(errno) : "");
    fflush(stdout);
}

static int set_sys_admin(int on) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0)
        return -1;
    if (on)
        data[0].effective |= 1u << CAP_SYS_ADMIN;
    else
        data[0].effective &= ~(1u << CAP_SYS_ADMIN);
    return syscall(SYS_capset, &header, data);
}

static int put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int rc = write(fd, text, strlen(text)) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

static void show(const char *path) {
    char buf[64] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("read %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("read %s: %zd '%s'\n", path, n, n > 0 ? buf : "");
}

static void mount_flags(const char *path) {
    struct statvfs st;
    if (statvfs(path, &st) < 0) {
        printf("statvfs %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    printf("statvfs %s: rdonly %d nosuid %d\n", path, !!(st.f_flag & ST_RDONLY), !!(st.f_flag & ST_NOSUID));
}

/* mountinfo lines of mount points under ``under``: point, per-mount options, type (the ids,
 * devices, roots and sources are the host's natively). */
static void mountinfo(const char *under) {
    char line[1024];
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) {
        printf("mountinfo: %s\n", strerrorname_np(errno));
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char point[256], options[256], type[64];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*d %*d %*s %*s %255s %255s", point, options) != 2
            || sscanf(dash, " - %63s", type) != 1 || strncmp(point, under, strlen(under)) != 0)
            continue;
        struct stat here, image;  /* the image's own type is the host's natively, overlay in Sentrio */
        if (stat(point, &here) == 0 && stat("/", &image) == 0 && here.st_dev == image.st_dev)
            strcpy(type, "(the image's)");
        printf("mountinfo %s %s %s\n", point, options, type);
    }
    fclose(f);
}

int main(void) {
    /* without the capability: EPERM, but only once the target is found */
    report("drop CAP_SYS_ADMIN", set_sys_admin(0));
    report("mount tmpfs unprivileged", mount("none", "/mnt/t", "tmpfs", 0, NULL));
    report("mount on a missing dir unprivileged", mount("none", "/mnt/nothere", "tmpfs", 0, NULL));
    report("umount2 unprivileged", umount2("/proc", 0));
    report("raise CAP_SYS_ADMIN", set_sys_admin(1));

    /* errors */
    report("mount on a missing dir", mount("none", "/mnt/nothere", "tmpfs", 0, NULL));
    report("mount on a file", mount("none", "/data/file", "tmpfs", 0, NULL));
    report("mount of an unknown type", mount("none", "/mnt/t", "nosuchfs", 0, NULL));
    report("umount2 of a non-mount point", umount2("/data", 0));
    report("umount2 bad flags", umount2("/data", 0x100));
    report("bind of a missing source", mount("/nothere", "/mnt/b", NULL, MS_BIND, NULL));
    report("remount of a non-mount point", mount(NULL, "/data", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));

    /* a tmpfs, its options, and its use */
    report("mount tmpfs", mount("none", "/mnt/t", "tmpfs", MS_NOSUID, "size=1m,mode=711,uid=12,gid=34"));
    struct stat st;
    report("stat /mnt/t", stat("/mnt/t", &st));
    printf("  mode %o uid %d gid %d\n", st.st_mode & 07777, (int)st.st_uid, (int)st.st_gid);
    mount_flags("/mnt/t");
    report("write /mnt/t/f", put("/mnt/t/f", "on tmpfs"));
    show("/mnt/t/f");
    report("bad tmpfs size", mount("none", "/mnt/t2", "tmpfs", 0, "size=lots"));

    /* umount: busy while a file is open in it; MNT_DETACH lets the open file live on */
    int fd = open("/mnt/t/f", O_RDONLY);
    report("umount2 busy", umount2("/mnt/t", 0));
    report("umount2 MNT_EXPIRE|MNT_DETACH", umount2("/mnt/t", MNT_EXPIRE | MNT_DETACH));
    report("umount2 MNT_DETACH", umount2("/mnt/t", MNT_DETACH));
    char buf[16] = {0};
    printf("read detached fd: %zd '%s'\n", pread(fd, buf, sizeof buf - 1, 0), buf);
    close(fd);
    show("/mnt/t/f");

    /* MNT_EXPIRE: the first call marks, the second unmounts */
    report("mount tmpfs again", mount("tmpfs", "/mnt/t", "tmpfs", 0, NULL));
    report("umount2 MNT_EXPIRE", umount2("/mnt/t", MNT_EXPIRE));
    report("umount2 MNT_EXPIRE again", umount2("/mnt/t", MNT_EXPIRE));
    report("umount2 after expiry", umount2("/mnt/t", 0));

    /* a bind mount of the image's /data */
    report("bind /data", mount("/data", "/mnt/b", NULL, MS_BIND, NULL));
    show("/mnt/b/file");
    report("stat /mnt/b/sub", stat("/mnt/b/sub", &st));
    report("write through the bind", put("/mnt/b/new", "through"));
    show("/data/new");
    report("unlink through the bind", unlink("/mnt/b/new"));

    /* a read-only bind of a tmpfs directory */
    report("mount tmpfs t2", mount("none", "/mnt/t2", "tmpfs", 0, "mode=755"));
    report("mkdir t2/d", mkdir("/mnt/t2/d", 0755));
    report("bind t2/d", mount("/mnt/t2/d", "/mnt/b2", NULL, MS_BIND, NULL));
    report("write before ro", put("/mnt/b2/x", "x"));
    mountinfo("/mnt/");
    report("remount ro", mount(NULL, "/mnt/b2", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    report("write after ro", put("/mnt/b2/y", "y"));
    report("mkdir after ro", mkdir("/mnt/b2/z", 0755));
    mount_flags("/mnt/b2");
    show("/mnt/b2/x");
    mountinfo("/mnt/b2");

    /* the sandbox's procfs seen at a second place */
    report("mount proc", mount("proc", "/mnt/p", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    report("stat /mnt/p/self/status", stat("/mnt/p/self/status", &st));
    mountinfo("/mnt/p");
    report("umount2 proc", umount2("/mnt/p", 0));
    report("stat /mnt/p/self after", stat("/mnt/p/self", &st));

    /* propagation: recorded; exactly one type at a time */
    report("make private", mount(NULL, "/mnt/b", NULL, MS_PRIVATE, NULL));
    report("shared and private", mount(NULL, "/mnt/b", NULL, MS_SHARED | MS_PRIVATE, NULL));
    report("private on a non-mount point", mount(NULL, "/data", NULL, MS_PRIVATE, NULL));


    /* the read-only bind goes; a remount of the tmpfs makes it writable again */
    report("umount2 b2", umount2("/mnt/b2", 0));
    report("remount t2", mount(NULL, "/mnt/t2", NULL, MS_REMOUNT, NULL));
    report("write t2", put("/mnt/t2/d/w", "w"));
    report("umount2 b", umount2("/mnt/b", 0));
    report("stat /mnt/b/sub after", stat("/mnt/b/sub", &st));

    /* MS_MOVE: the tmpfs at /mnt/t2 moves to /mnt/m */
    report("move t2 to m", mount("/mnt/t2", "/mnt/m", NULL, MS_MOVE, NULL));
    report("stat /mnt/m/d", stat("/mnt/m/d", &st));
    report("stat /mnt/t2/d", stat("/mnt/t2/d", &st));
    mountinfo("/mnt/");
    report("umount2 m", umount2("/mnt/m", 0));
    report("umount2 m again", umount2("/mnt/m", 0));
    mountinfo("/mnt/");
    return 0;
}
