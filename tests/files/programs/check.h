/* One line per call: the expression, its result, and errno's name when it failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case ENOENT: return "ENOENT"; case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR";
    case EEXIST: return "EEXIST"; case ENOTEMPTY: return "ENOTEMPTY"; case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG"; case EBADF: return "EBADF"; case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL"; case EROFS: return "EROFS"; case EACCES: return "EACCES";
    case EPERM: return "EPERM"; case ESPIPE: return "ESPIPE"; case EXDEV: return "EXDEV";
    case EBUSY: return "EBUSY"; case ENOSPC: return "ENOSPC"; case EIO: return "EIO";
    case ERANGE: return "ERANGE"; case ENXIO: return "ENXIO"; case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY"; case EAGAIN: return "EAGAIN"; case EDEADLK: return "EDEADLK";
    case EINTR: return "EINTR"; case EFBIG: return "EFBIG"; case ENODEV: return "ENODEV";
    default: return "E?";
    }
}

#define T(expr) do { \
    errno = 0; long _r = (long)(expr); \
    if (_r < 0) printf("%s = %ld %s\n", #expr, _r, errname(errno)); \
    else printf("%s = %ld\n", #expr, _r); \
    fflush(stdout); \
} while (0)
