/* argv, envp and the auxiliary vector as the program sees them at start. */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>
#include "check.h"

extern char **environ;
extern const char __ehdr_start[];

int main(int argc, char **argv, char **envp) {
    printf("argc %d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d] = \"%s\"\n", i, argv[i]);
    for (char **e = envp; *e; e++) printf("env %s\n", *e);
    CHECK("environ is envp", environ == envp);
    CHECK("argv[argc] is NULL", argv[argc] == NULL);
    CHECK("AT_PAGESZ", getauxval(AT_PAGESZ) == 4096);
    CHECK("AT_CLKTCK", getauxval(AT_CLKTCK) == 100);
    CHECK("AT_SECURE", getauxval(AT_SECURE) == 0);
    CHECK("AT_UID", getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid());
    CHECK("AT_GID", getauxval(AT_GID) == getgid() && getauxval(AT_EGID) == getegid());
    CHECK("AT_PHENT", getauxval(AT_PHENT) == sizeof(Elf64_Phdr));
    const Elf64_Ehdr *ehdr = (const Elf64_Ehdr *)__ehdr_start;
    CHECK("AT_PHNUM", getauxval(AT_PHNUM) == ehdr->e_phnum);
    CHECK("AT_PHDR", getauxval(AT_PHDR) == (uintptr_t)__ehdr_start + ehdr->e_phoff);
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    for (int i = 0; random && i < 16; i++) nonzero |= random[i];
    CHECK("AT_RANDOM", random != NULL && nonzero);
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    CHECK("AT_EXECFN", execfn && strcmp(execfn, argv[0]) == 0);
    const char *platform = (const char *)getauxval(AT_PLATFORM);
    CHECK("AT_PLATFORM", platform && strcmp(platform, "x86_64") == 0);
    CHECK("AT_HWCAP", getauxval(AT_HWCAP) != 0);
    uintptr_t bias = ehdr->e_type == ET_DYN ? (uintptr_t)__ehdr_start : 0;
    CHECK("AT_ENTRY", getauxval(AT_ENTRY) == bias + ehdr->e_entry);
    volatile long local;
    CHECK("stack near argv", (uintptr_t)argv - (uintptr_t)&local < (1 << 20));
    return argc;
}
