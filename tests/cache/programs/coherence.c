/* Every path to a file sees a change made in the sandbox at once: stat, open, getdents,
 * readlink, a hard link, a second process. Prints one line per check. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void exists(const char *path) {
    struct stat st;
    int r = lstat(path, &st);
    printf("lstat %s: %s size=%lld nlink=%lu\n", path, r == 0 ? "ok" : strerror(errno),
           r == 0 ? (long long)st.st_size : -1LL, r == 0 ? (unsigned long)st.st_nlink : 0UL);
    int fd = open(path, O_RDONLY);
    char buf[64] = {0};
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        close(fd);
    }
    printf("open %s: %s %s", path, fd >= 0 ? "ok" : strerror(errno), fd >= 0 ? buf : "\n");
    if (fd >= 0 && (!buf[0] || buf[strlen(buf) - 1] != '\n')) printf("\n");
}

static void listing(const char *dir) {
    char names[64][64];
    int count = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && count < 64)
        if (e->d_name[0] != '.') snprintf(names[count++], 64, "%s", e->d_name);
    if (d) closedir(d);
    qsort(names, count, 64, (int (*)(const void *, const void *))strcmp);
    printf("ls %s:", dir);
    for (int i = 0; i < count; i++) printf(" %s", names[i]);
    printf("\n");
}

static void link_target(const char *path) {
    char buf[128];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("readlink %s: %s\n", path, n >= 0 ? buf : strerror(errno));
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, text, strlen(text)) < 0) perror("write");
    close(fd);
}

static void in_child(const char *path) {
    pid_t pid = fork();
    if (pid == 0) {
        printf("child: ");
        exists(path);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Warm the cache: every name of the tree looked up and listed. */
    listing("/data/tree");
    listing("/data/tree/sub");
    exists("/data/tree/a");
    exists("/data/tree/hard");
    exists("/data/tree/missing");
    link_target("/data/tree/link");
    exists("/data/tree/link");

    write_file("/data/tree/missing", "created\n");
    exists("/data/tree/missing");
    listing("/data/tree");
    in_child("/data/tree/missing");

    if (rename("/data/tree/a", "/data/tree/sub/moved") != 0) perror("rename");
    exists("/data/tree/a");
    exists("/data/tree/sub/moved");
    exists("/data/tree/hard");
    listing("/data/tree");
    listing("/data/tree/sub");
    exists("/data/tree/link");
    in_child("/data/tree/sub/moved");

    write_file("/data/tree/hard", "through the hard link\n");
    exists("/data/tree/sub/moved");

    if (unlink("/data/tree/hard") != 0) perror("unlink");
    exists("/data/tree/hard");
    exists("/data/tree/sub/moved");
    listing("/data/tree");

    if (unlink("/data/tree/link") != 0) perror("unlink link");
    if (symlink("sub/moved", "/data/tree/link") != 0) perror("symlink");
    link_target("/data/tree/link");
    exists("/data/tree/link");

    if (link("/data/tree/sub/moved", "/data/tree/again") != 0) perror("link");
    exists("/data/tree/again");
    if (mkdir("/data/tree/sub/deeper", 0755) != 0) perror("mkdir");
    write_file("/data/tree/sub/deeper/f", "deep\n");
    exists("/data/tree/sub/deeper/f");
    if (rename("/data/tree/sub", "/data/tree/renamed") != 0) printf("rename dir: %s\n", strerror(errno));
    listing("/data/tree");
    if (chmod("/data/tree/again", 0600) != 0) perror("chmod");
    struct stat st;
    stat("/data/tree/again", &st);
    printf("mode %o\n", st.st_mode & 07777);
    in_child("/data/tree/again");
    return 0;
}
