/* The privileged calls a container's root (docker's capabilities: no CAP_SYS_PACCT, SYS_BOOT,
 * SYS_ADMIN, SYS_RAWIO, SYS_MODULE, SYS_TTY_CONFIG) is refused, with Linux's errno. Every call is
 * made so that it would do nothing harmful even where it were allowed (bad magic, paths that do
 * not exist, NULL images). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "show.h"


int main(void)
{
    show("acct NULL", syscall(SYS_acct, NULL));
    show("acct a file", syscall(SYS_acct, "/nonexistent"));
    show("reboot bad magic", syscall(SYS_reboot, 0, 0, 0, NULL));
    show("vhangup", syscall(SYS_vhangup));
    show("swapon", syscall(SYS_swapon, "/nonexistent", 0));
    show("swapoff", syscall(SYS_swapoff, "/nonexistent"));
    show("iopl 4", syscall(SYS_iopl, 4));
    show("iopl 0", syscall(SYS_iopl, 0));
    show("iopl 3", syscall(SYS_iopl, 3));
    show("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
    show("ioperm off", syscall(SYS_ioperm, 0x80, 1, 0));
    show("init_module", syscall(SYS_init_module, NULL, 0, ""));
    show("finit_module", syscall(SYS_finit_module, 0, "", 0));
    show("delete_module", syscall(SYS_delete_module, "nonexistent", 0));
    show("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    show("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
    return 0;
}
