/* Pages of a file mapping past the end of the file: SIGBUS with BUS_ADRERR (shared and private),
 * EFAULT when a system call is handed one, and usable once the file has grown (shared). */
#include "check.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

static sigjmp_buf back;
static volatile char *expected;

static void on_sigbus(int signo, siginfo_t *info, void *context) {
    (void)context;
    printf("signal %d code %d at the page: %d\n", signo, info->si_code, (char *)info->si_addr == expected);
    siglongjmp(back, 1);
}

static void touch(const char *what, char *addr) {
    expected = addr;
    if (sigsetjmp(back, 1) == 0)
        printf("%s: read %d\n", what, *(volatile char *)addr);
}

int main(void) {
    struct sigaction action = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &action, NULL);
    int fd = open("/tmp/short", O_RDWR | O_CREAT | O_TRUNC, 0644);
    T(write(fd, "0123456789", 10));
    char *shared = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *private = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    T(shared != MAP_FAILED && private != MAP_FAILED);
    touch("shared, in the file", shared + 5);
    touch("shared, rest of the last page", shared + 4000);
    touch("shared, past the end", shared + 4096);
    touch("private, past the end", private + 2 * 4096 + 7);
    T(write(1, shared + 4096, 4));  /* a system call given the page: EFAULT */
    T(ftruncate(fd, 2 * 4096 + 1));
    touch("shared, after the file grew", shared + 4096 + 3);
    touch("shared, third page after growth", shared + 2 * 4096);
    shared[4096] = 'x';
    T(msync(shared, 3 * 4096, MS_SYNC));
    char c = 0;
    T(pread(fd, &c, 1, 4096));
    printf("the file has the store: %c\n", c);
    T(ftruncate(fd, 100));  /* shrunk under the mapping: its later pages fault again */
    touch("shared, in the first page after shrinking", shared + 99);
    touch("shared, second page after shrinking", shared + 4096 + 3);
    touch("private copy after shrinking", private + 5);
    T(munmap(shared, 3 * 4096));
    T(munmap(private, 3 * 4096));
    T(unlink("/tmp/short"));
    return 0;
}
