/* execveat: relative to a directory fd, the program an fd opened (fexecve, O_PATH too), a script
 * by fd (its interpreter sees /dev/fd/N; a close-on-exec fd makes that ENOENT), a symlink with
 * AT_SYMLINK_NOFOLLOW (ELOOP), and the errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void run(int dirfd, const char *path, int flags, const char *what) {
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"target", "arg", NULL}, *envp[] = {NULL};
        syscall(SYS_execveat, dirfd, path, argv, envp, flags);
        printf("%s: %s\n", what, strerror(errno));
        fflush(stdout);
        _exit(100);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("%s: exited %d\n", what, WEXITSTATUS(status));
    fflush(stdout);
}

int main(void) {
    int bin = open("/bin", O_RDONLY | O_DIRECTORY);
    int target = open("/bin/exec_target", O_RDONLY);
    int target_path = open("/bin/exec_target", O_PATH);
    int script = open("/bin/script", O_RDONLY);
    int script_cloexec = open("/bin/script", O_RDONLY | O_CLOEXEC);
    symlink("/bin/exec_target", "/tmp/target_link");
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY);
    run(bin, "exec_target", 0, "dirfd-relative");
    run(bin, "script", 0, "script dirfd-relative");
    run(target, "", AT_EMPTY_PATH, "fexecve");
    run(target_path, "", AT_EMPTY_PATH, "fexecve of O_PATH");
    run(script, "", AT_EMPTY_PATH, "script by fd");
    run(script_cloexec, "", AT_EMPTY_PATH, "script by close-on-exec fd");
    run(tmp, "target_link", 0, "symlink followed");
    run(tmp, "target_link", AT_SYMLINK_NOFOLLOW, "symlink not followed");
    run(bin, "missing", 0, "missing");
    run(target, "", 0, "empty path without AT_EMPTY_PATH");
    run(bin, "exec_target", 0x8000, "bad flags");
    run(target, "exec_target", 0, "relative to a file");
    return 0;
}
