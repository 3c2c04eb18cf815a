/*
 * The fuzzer's executor: runs inside the sandbox (or natively, for differential cases) and
 * executes the programs that `python -m kernel fuzz` writes to its stdin.
 *
 * Input, one item per line (see kernel/fuzz/program.py, which writes it):
 *   P                      a new program
 *   C <nr> <arg> x6        a system call
 *   F <seed>               a signal whose frame the handler mangles (seeded), then returns
 *   X <hex>                execve of an executable with these bytes
 *   E                      end of the program: run it
 * Arguments: i<u64> an integer; p<r|o|g|u|k|h|n>:<n> a pointer into the read-write area, the
 * read-only page, n bytes before a guard page, unmapped memory, a kernel address, n bytes below
 * the top of user space, or NULL; f<kind> an fd of that kind; s<n> a string of the string
 * table; d<off>:<hex> those bytes, at that offset of the read-write area; q<self|parent> a pid.
 *
 * Every program runs in a child of its own, with stdio on /dev/null and a 100 ms SIGALRM; the
 * parent kills it after a second, then kills every other process it left (kill(-1), as the
 * sandbox's init or a dedicated user natively), and prints, on its stdout:
 *   R <program> <e<code>|s<signal>|t> <calls done> <result>...
 * While it waits, the parent sleeps 1 ms at a time and notes any sleep that took over a second
 * (the kernel did not serve it): "S <program> <ms>". Before each program it writes "@P <n>" to
 * stderr, so the kernel's own log lines can be told apart by program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_CALLS 64
#define RW_SIZE (64 * 1024)
#define PAGE 4096ul

enum kind { CALL, FRAME, EXEC };

struct arg {
    char type;          /* i p f s d q */
    char region;        /* for p */
    uint64_t value;     /* integer, offset, string index */
    unsigned char *data;
    size_t length;
};

struct call {
    enum kind kind;
    long nr;
    struct arg args[6];
    uint64_t seed;
    unsigned char *blob;
    size_t blob_length;
};

struct program {
    int ncalls;
    struct call calls[MAX_CALLS];
};

/* Shared with the program's child: how far it got, and what each call returned. */
struct shared {
    volatile int done;
    volatile long results[MAX_CALLS];
};

static char *rw, *ro, *guard, *unmapped;
static struct shared *shared;
static int fds[16];
static const char *fd_names[] = {"file", "dir", "piper", "pipew", "event", "epoll", "memfd", "signal",
                                 "timer", "null", "closed", "big", "cwd", "neg", NULL};
static const char *strings[] = {"/tmp/fuzz", "/", "/bin/fuzz-exec", "/dev/null", "", "/proc/self/maps",
                                "..", "/tmp/fuzz-exe", "/tmp", "/tmp/fuzz/../fuzz", NULL};
static char long_string[8192];

static unsigned char *unhex(const char *text, size_t *length) {
    size_t n = strlen(text) / 2;
    unsigned char *bytes = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        sscanf(text + 2 * i, "%2hhx", &bytes[i]);
    *length = n;
    return bytes;
}

static void parse_arg(char *token, struct arg *arg) {
    memset(arg, 0, sizeof *arg);
    arg->type = token[0];
    switch (token[0]) {
    case 'i':
        arg->value = strtoull(token + 1, NULL, 0);
        break;
    case 'p':
        arg->region = token[1];
        arg->value = strtoull(token + 3, NULL, 0);
        break;
    case 'f':
        for (int i = 0; fd_names[i]; i++)
            if (!strcmp(token + 1, fd_names[i]))
                arg->value = i;
        break;
    case 's':
        arg->value = strtoull(token + 1, NULL, 0);
        break;
    case 'd': {
        char *colon = strchr(token, ':');
        arg->value = strtoull(token + 1, NULL, 0) % RW_SIZE;
        arg->data = unhex(colon ? colon + 1 : "", &arg->length);
        break;
    }
    case 'q':
        arg->value = !strcmp(token + 1, "parent");
        break;
    }
}

static uint64_t resolve(const struct arg *arg) {
    switch (arg->type) {
    case 'i':
        return arg->value;
    case 'p':
        switch (arg->region) {
        case 'r': return (uint64_t)rw + arg->value % RW_SIZE;
        case 'o': return (uint64_t)ro + arg->value % PAGE;
        case 'g': return (uint64_t)guard + PAGE - arg->value % PAGE;
        case 'u': return (uint64_t)unmapped + arg->value % PAGE;
        case 'k': return 0xffff800000000000ul + arg->value;
        case 'h': return 0x7ffffffff000ul - arg->value;
        default: return 0;
        }
    case 'f':
        return (uint64_t)(int64_t)fds[arg->value];
    case 's': {
        int count = 0;
        while (strings[count])
            count++;
        return arg->value >= (uint64_t)count ? (uint64_t)long_string : (uint64_t)strings[arg->value];
    }
    case 'd': {
        size_t room = RW_SIZE - arg->value;
        memcpy(rw + arg->value, arg->data, arg->length < room ? arg->length : room);
        return (uint64_t)rw + arg->value;
    }
    case 'q':
        return arg->value ? (uint64_t)getppid() : (uint64_t)getpid();
    }
    return 0;
}

/* --- random signal frames --------------------------------------------------------------------- */

static uint64_t frame_seed;

static uint64_t next_random(void) {
    frame_seed ^= frame_seed << 13;
    frame_seed ^= frame_seed >> 7;
    frame_seed ^= frame_seed << 17;
    return frame_seed;
}

static void mangle(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
    uint32_t xstate_size = fp ? *(uint32_t *)(fp + 464 + 16) : 0;
    size_t size = xstate_size > 512 && xstate_size < 16384 ? xstate_size + 4 : 512;
    int changes = 1 + next_random() % 4;
    for (int i = 0; i < changes && fp; i++) {
        uint64_t r = next_random();
        switch (r % 12) {
        case 0: memset(fp, 0, size); break;
        case 1: fp[next_random() % size] ^= (unsigned char)next_random(); break;
        case 2: *(uint32_t *)(fp + 24) = (uint32_t)next_random(); break;                  /* MXCSR */
        case 3: *(uint32_t *)(fp + 24) = 0x1f80; break;
        case 4: ((uint64_t *)(fp + 512))[next_random() % 8] = next_random() & 0xff; break; /* header */
        case 5: *(uint32_t *)(fp + 464) = (uint32_t)next_random(); break;                 /* magic1 */
        case 6: *(uint32_t *)(fp + 464 + 16) = (uint32_t)(next_random() % 4096); break;   /* xstate_size */
        case 7: uc->uc_mcontext.fpregs = NULL; fp = NULL; break;
        case 8: uc->uc_mcontext.fpregs = (void *)(fp + (next_random() % 8) * 8); break;
        case 9: uc->uc_flags = next_random(); break;
        case 10: uc->uc_stack.ss_flags = (int)next_random(); uc->uc_stack.ss_size = next_random() % 65536; break;
        default:
            for (size_t j = 0; j < size; j++)
                fp[j] = (unsigned char)next_random();
            break;
        }
    }
}

static long signal_frame(uint64_t seed) {
    frame_seed = seed | 1;
    struct sigaction action = {.sa_sigaction = mangle, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &action, NULL);
    return syscall(SYS_kill, getpid(), SIGUSR1);
}

/* --- running a program ------------------------------------------------------------------------ */

static long malformed_exec(const struct call *call) {
    unlink("/tmp/fuzz-exe");
    int fd = open("/tmp/fuzz-exe", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0)
        return -errno;
    write(fd, call->blob, call->blob_length);
    close(fd);
    char *argv[] = {"fuzz-exe", NULL}, *envp[] = {NULL};
    return syscall(SYS_execve, "/tmp/fuzz-exe", argv, envp);
}

static void run_program(const struct program *program) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    struct itimerval alarm_soon = {.it_value = {.tv_usec = 100000}};
    setitimer(ITIMER_REAL, &alarm_soon, NULL);
    for (int i = 0; i < program->ncalls; i++) {
        const struct call *call = &program->calls[i];
        long result;
        errno = 0;
        if (call->kind == FRAME) {
            result = signal_frame(call->seed);
        } else if (call->kind == EXEC) {
            result = malformed_exec(call);
        } else {
            uint64_t a[6];
            for (int j = 0; j < 6; j++)
                a[j] = resolve(&call->args[j]);
            result = syscall(call->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        }
        shared->results[i] = result == -1 ? -errno : result;
        shared->done = i + 1;
    }
    _exit(0);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to a second for the child, sleeping 1 ms at a time; a sleep that took over a second
 * means the kernel held this process up. Returns the wait status, or -1 if it had to be killed. */
static int await_child(pid_t child, int index) {
    long deadline = now_ms() + 1000;
    for (;;) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child)
            return status;
        long before = now_ms();
        if (before > deadline) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            return -1;
        }
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
        long gap = now_ms() - before;
        if (gap > 1000) {
            printf("S %d %ld\n", index, gap);
            fflush(stdout);  /* now: the runner judges it by the Sentry's CPU time just before */
            deadline += gap;
        }
    }
}

static void clean_up(void) {
    kill(-1, SIGKILL);  /* whatever the program left running (never ourselves, never init) */
    for (int tries = 0; tries < 200; tries++) {
        pid_t pid = waitpid(-1, NULL, WNOHANG | __WALL);
        if (pid < 0)
            break;
        if (pid == 0) {
            struct timespec nap = {0, 1000000};
            nanosleep(&nap, NULL);
        }
    }
}

static void report(int index, const struct program *program, int status) {
    if (status == -1)
        printf("R %d t", index);
    else if (WIFSIGNALED(status))
        printf("R %d s%d", index, WTERMSIG(status));
    else
        printf("R %d e%d", index, WEXITSTATUS(status));
    printf(" %d", shared->done);
    for (int i = 0; i < shared->done && i < program->ncalls; i++)
        printf(" %ld", shared->results[i]);
    printf("\n");
    fflush(stdout);
}

/* An area of ``size`` bytes followed by a PROT_NONE page, so that what lies past its end is the
 * same whatever the kernel's layout (natively and under Sentrio the neighbours differ). */
static char *fenced(size_t size, int prot) {
    char *area = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(area + size, PAGE, PROT_NONE);
    mprotect(area, size, prot);
    return area;
}

static void set_up(void) {
    rw = fenced(RW_SIZE, PROT_READ | PROT_WRITE);
    ro = fenced(PAGE, PROT_READ | PROT_WRITE);
    memset(ro, 0x41, PAGE);
    mprotect(ro, PAGE, PROT_READ);
    guard = fenced(PAGE, PROT_READ | PROT_WRITE);
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(long_string, 'a', sizeof long_string - 1);

    int file = open("/tmp/fuzz", O_RDWR | O_CREAT, 0644);
    write(file, "fuzz file contents\n", 19);
    int pipes[2] = {-1, -1};
    pipe(pipes);
    int values[] = {
        file, open("/", O_RDONLY | O_DIRECTORY), pipes[0], pipes[1], eventfd(0, 0), epoll_create1(0),
        (int)syscall(SYS_memfd_create, "fuzz", 0), -1, timerfd_create(CLOCK_MONOTONIC, 0),
        open("/dev/null", O_RDWR), 200, 1 << 20, AT_FDCWD, -1,
    };
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    values[7] = signalfd(-1, &mask, 0);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        fds[i] = values[i];
    prctl(PR_SET_CHILD_SUBREAPER, 1);  /* natively: the programs' orphans come back to us */
    /* Last, so that no later mapping of ours takes the hole: a page between two fences. */
    unmapped = fenced(PAGE, PROT_READ);
    munmap(unmapped, PAGE);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

static int read_programs(struct program **programs) {
    size_t capacity = 16, count = 0;
    *programs = calloc(capacity, sizeof **programs);
    char *line = NULL;
    size_t size = 0;
    struct program *current = NULL;
    while (getline(&line, &size, stdin) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == 'P') {
            if (count == capacity)
                *programs = realloc(*programs, (capacity *= 2) * sizeof **programs);
            current = &(*programs)[count++];
            memset(current, 0, sizeof *current);
        } else if (current && current->ncalls < MAX_CALLS && strchr("CFX", line[0]) && line[0]) {
            struct call *call = &current->calls[current->ncalls++];
            memset(call, 0, sizeof *call);
            char *save = NULL, *token = strtok_r(line + 2, " ", &save);
            if (line[0] == 'C') {
                call->kind = CALL;
                call->nr = token ? strtol(token, NULL, 0) : 0;
                for (int i = 0; i < 6 && (token = strtok_r(NULL, " ", &save)); i++)
                    parse_arg(token, &call->args[i]);
            } else if (line[0] == 'F') {
                call->kind = FRAME;
                call->seed = token ? strtoull(token, NULL, 0) : 1;
            } else {
                call->kind = EXEC;
                call->blob = unhex(token ? token : "", &call->blob_length);
            }
        }
    }
    free(line);
    return (int)count;
}

int main(void) {
    struct program *programs;
    int count = read_programs(&programs);
    set_up();
    for (int index = 0; index < count; index++) {
        dprintf(2, "@P %d\n", index);
        shared->done = 0;
        pid_t child = fork();
        if (child < 0) {
            printf("R %d t 0\n", index);
            fflush(stdout);
            clean_up();
            continue;
        }
        if (child == 0) {
            setpgid(0, 0);
            run_program(&programs[index]);
        }
        int status = await_child(child, index);
        clean_up();
        report(index, &programs[index], status);
    }
    return 0;
}
