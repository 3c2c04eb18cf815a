/* One line per call: the expression, its result, and errno's name when it failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case ENOENT: return "ENOENT"; case EBADF: return "EBADF"; case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL"; case EACCES: return "EACCES"; case EPERM: return "EPERM";
    case EAGAIN: return "EAGAIN"; case EINTR: return "EINTR"; case EPIPE: return "EPIPE";
    case ENOTSOCK: return "ENOTSOCK"; case EDESTADDRREQ: return "EDESTADDRREQ"; case EMSGSIZE: return "EMSGSIZE";
    case EPROTOTYPE: return "EPROTOTYPE"; case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT"; case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP"; case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE"; case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH"; case ECONNABORTED: return "ECONNABORTED";
    case ECONNRESET: return "ECONNRESET"; case ENOBUFS: return "ENOBUFS"; case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN"; case ETIMEDOUT: return "ETIMEDOUT"; case ECONNREFUSED: return "ECONNREFUSED";
    case EALREADY: return "EALREADY"; case EINPROGRESS: return "EINPROGRESS"; case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY"; case ENODEV: return "ENODEV"; case EEXIST: return "EEXIST";
    case ENXIO: return "ENXIO"; case EDOM: return "EDOM"; case ENOTDIR: return "ENOTDIR";
    default: { static char b[16]; snprintf(b, sizeof b, "E%d", e); return b; }
    }
}

#define T(expr) do { \
    errno = 0; long _r = (long)(expr); \
    if (_r < 0) printf("%s = %ld %s\n", #expr, _r, errname(errno)); \
    else printf("%s = %ld\n", #expr, _r); \
    fflush(stdout); \
} while (0)

/* The same, for a value whose exact number differs between runs: only whether it failed. */
#define OK(expr) do { \
    errno = 0; long _r = (long)(expr); \
    if (_r < 0) printf("%s failed %s\n", #expr, errname(errno)); \
    else printf("%s ok\n", #expr); \
    fflush(stdout); \
} while (0)
