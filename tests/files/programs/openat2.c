/* openat2's RESOLVE_* restrictions, and its argument checks. */
#include "check.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static long o2(int dirfd, const char *path, unsigned long long flags, unsigned long long resolve) {
    struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int main(void) {
    int data, fd;
    T(data = open("/data", O_RDONLY | O_DIRECTORY));
    T(mkdir("/data/sub", 0755));
    T(symlink("/MARKER", "/data/abs"));
    T(symlink("../MARKER", "/data/rel"));
    T(symlink("existing", "/data/local"));
    T((fd = o2(data, "existing", O_RDONLY, 0)) >= 0);
    T(o2(data, "existing", O_RDONLY, RESOLVE_BENEATH) >= 0);
    T(o2(data, "/MARKER", O_RDONLY, RESOLVE_BENEATH));
    T(o2(data, "../MARKER", O_RDONLY, RESOLVE_BENEATH));
    T(o2(data, "sub/../existing", O_RDONLY, RESOLVE_BENEATH) >= 0);
    T(o2(data, "abs", O_RDONLY, RESOLVE_BENEATH));
    T(o2(data, "rel", O_RDONLY, RESOLVE_BENEATH));
    T(o2(data, "local", O_RDONLY, RESOLVE_BENEATH) >= 0);
    T(o2(data, "local", O_RDONLY, RESOLVE_NO_SYMLINKS));
    T(o2(data, "/existing", O_RDONLY, RESOLVE_IN_ROOT) >= 0);
    T(o2(data, "../../existing", O_RDONLY, RESOLVE_IN_ROOT) >= 0);
    T(o2(data, "abs", O_RDONLY, RESOLVE_IN_ROOT));
    T(o2(data, "existing", O_RDONLY, 0x1000));
    T(o2(data, "existing", 0x40000000, 0));
    struct open_how how = {.flags = O_RDONLY};
    T(syscall(SYS_openat2, data, "existing", &how, 8));
    T(unlink("/data/abs"));
    T(unlink("/data/rel"));
    T(unlink("/data/local"));
    T(rmdir("/data/sub"));
    return 0;
}
