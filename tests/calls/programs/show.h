/* What every program here prints of a call: its result, or -1 and the errno's name. */
#ifndef CALLS_SHOW_H
#define CALLS_SHOW_H
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}
#endif
