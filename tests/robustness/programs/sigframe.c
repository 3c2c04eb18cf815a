/*
 * Signal frames a hostile guest gets wrong on purpose: frames that do not fit (a stack pointer
 * near 0, an alternate stack too small or unmapped), rt_sigreturn with a low stack pointer, and
 * FP state images in the frame that Linux accepts (NULL, zeroed, legacy-only, garbage with a sane
 * MXCSR) or refuses with SIGSEGV (bad MXCSR, bad XSAVE header, misaligned, unmapped).
 *
 * Each case runs in a child of its own; the child prints what it saw and the parent prints how
 * the child ended. Linux kills only that child, with SIGSEGV, when a frame is unusable.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31)
#endif
#define MAGIC1 0x46505853u
#define MAGIC2 0x46505845u

struct sw_bytes {
    uint32_t magic1, extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size, padding[7];
};

static const char *mode;
static char *spare;          /* a 64-byte aligned copy area for moved FP images */

static void say(const char *text) {
    fputs(text, stdout);
    fflush(stdout);
}

static void segv_handler(int sig) {
    say("  SIGSEGV handler ran\n");
    _exit(40);
}

static void nothing(int sig) {}

static void install(int sig, void (*handler)(int), int flags) {
    struct sigaction action = {.sa_handler = handler, .sa_flags = flags};
    sigaction(sig, &action, NULL);
}

static void altstack(void *base, size_t size, int flags) {
    stack_t stack = {.ss_sp = base, .ss_size = size, .ss_flags = flags};
    if (sigaltstack(&stack, NULL))
        perror("sigaltstack");
}

static void *fresh_pages(size_t size) {
    return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void *unmapped_pages(size_t size) {
    void *area = fresh_pages(size);
    munmap(area, size);
    return area;
}

/* --- frames that do not fit ---------------------------------------------------------------- */

static void ill_with_stack(unsigned long sp) {
    __asm__ volatile("mov %0, %%rsp\n ud2\n" : : "r"(sp) : "memory");
}

static void sigreturn_with_stack(unsigned long sp) {
    __asm__ volatile("mov %0, %%rsp\n mov $15, %%eax\n syscall\n" : : "r"(sp) : "rax", "memory");
}

/* --- FP images handed back to rt_sigreturn -------------------------------------------------- */

static void fp_tamper(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    char *fp = (char *)uc->uc_mcontext.fpregs;
    struct sw_bytes *sw = (struct sw_bytes *)(fp + 464);
    size_t size = sw->xstate_size + 4;
    uint32_t *mxcsr = (uint32_t *)(fp + 24);
    uint64_t *header = (uint64_t *)(fp + 512);
    uint64_t *xmm0 = (uint64_t *)(fp + 160);

    if (!strcmp(mode, "fp_layout")) {
        printf("  magic1 %s, extended %s, xfeatures nonzero %d, fp aligned %d, frame sp %% 16 = %lu\n",
               sw->magic1 == MAGIC1 ? "ok" : "bad", sw->extended_size == size ? "ok" : "bad",
               sw->xfeatures != 0, ((uintptr_t)fp & 63) == 0, (unsigned long)uc->uc_mcontext.gregs[REG_RSP] % 16);
        printf("  magic2 %s, flags %#lx\n", *(uint32_t *)(fp + sw->xstate_size) == MAGIC2 ? "ok" : "bad",
               uc->uc_flags);
        /* The exact sizes and components: on a CPU with components a process must ask for
         * (AMX), they are the process's, not all XCR0 enables. */
        printf("  xstate_size %u, extended_size %u, xfeatures %#lx, xstate_bv & FP|SSE %#lx\n",
               sw->xstate_size, sw->extended_size, (unsigned long)sw->xfeatures, (unsigned long)(header[0] & 3));
    } else if (!strcmp(mode, "fp_xmm0")) {
        xmm0[0] = 0x1122334455667788ul;
    } else if (!strcmp(mode, "fp_null")) {
        uc->uc_mcontext.fpregs = NULL;
    } else if (!strcmp(mode, "fp_zero")) {
        memset(fp, 0, size);
    } else if (!strcmp(mode, "fp_ones")) {
        memset(fp, 0xff, 512);
    } else if (!strcmp(mode, "fp_garbage")) {
        unsigned state = 12345;
        for (size_t i = 0; i < size; i++)
            fp[i] = (char)((state = state * 1103515245 + 12345) >> 16);
        *mxcsr = 0x1f80;
        xmm0[0] = 0x0badcafe0badcafeul;
    } else if (!strcmp(mode, "fp_legacy_only")) {
        sw->magic1 = 0;
        xmm0[0] = 0x5555aaaa5555aaaaul;
    } else if (!strcmp(mode, "fp_magic2")) {
        *(uint32_t *)(fp + sw->xstate_size) = 0;
        xmm0[0] = 0x7777;
    } else if (!strcmp(mode, "fp_small_size")) {
        sw->xstate_size = 100;
    } else if (!strcmp(mode, "fp_bad_mxcsr")) {
        *mxcsr = 0xffffffff;
    } else if (!strcmp(mode, "fp_bad_mxcsr_legacy")) {
        sw->magic1 = 0;
        *mxcsr = 0xffff0000;
    } else if (!strcmp(mode, "fp_xcomp")) {
        header[1] = 1;
    } else if (!strcmp(mode, "fp_header_byte16")) {
        header[2] = 1;
    } else if (!strcmp(mode, "fp_header_tail")) {
        header[7] = 0xff;
    } else if (!strcmp(mode, "fp_unsupported_feature")) {
        header[0] |= 1ul << 62;
    } else if (!strcmp(mode, "fp_not_permitted")) {
        /* Components XCR0 enables that the frame leaves out (not yet permitted, e.g. AMX tile
         * data): XRSTOR accepts them in XSTATE_BV, and Linux restores only permitted ones. */
        uint32_t low, high;
        __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
        uint64_t xcr0 = (uint64_t)high << 32 | low;
        uint64_t withheld = xcr0 & ~sw->xfeatures;
        printf("  withheld components: %s\n", withheld ? "some" : "none");
        /* AMX tile data (bit 18), which Linux always withholds until asked, whatever the frame
         * says; its bytes lie past the frame's image, and any bytes are valid tile data. */
        withheld |= xcr0 & 1ul << 18;
        sw->xfeatures |= withheld;
        header[0] |= withheld;
    } else if (!strcmp(mode, "fp_x87_cw")) {
        /* Only the legacy area edited, as a program unaware of XSAVE would. */
        *(uint16_t *)fp = 0x027f;
    } else if (!strcmp(mode, "fp_misaligned")) {
        memcpy(spare + 16, fp, size);
        uc->uc_mcontext.fpregs = (void *)(spare + 16);
    } else if (!strcmp(mode, "fp_misaligned_legacy")) {
        memcpy(spare + 16, fp, size);
        ((struct sw_bytes *)(spare + 16 + 464))->magic1 = 0;
        uc->uc_mcontext.fpregs = (void *)(spare + 16);
    } else if (!strcmp(mode, "fp_legacy_8")) {
        memcpy(spare + 8, fp, 512);
        ((struct sw_bytes *)(spare + 8 + 464))->magic1 = 0;
        uc->uc_mcontext.fpregs = (void *)(spare + 8);
    } else if (!strcmp(mode, "fp_moved")) {
        memcpy(spare, fp, size);
        ((uint64_t *)(spare + 160))[0] = 0x4242;
        uc->uc_mcontext.fpregs = (void *)spare;
    } else if (!strcmp(mode, "fp_unmapped")) {
        uc->uc_mcontext.fpregs = unmapped_pages(4096);
    } else if (!strcmp(mode, "uc_stack_garbage")) {
        uc->uc_stack.ss_flags = 0x1234;
        uc->uc_stack.ss_size = 1;
    } else if (!strcmp(mode, "uc_stack_small")) {
        uc->uc_stack.ss_flags = 0;
        uc->uc_stack.ss_size = 100;
        uc->uc_stack.ss_sp = spare;
    }
}

/* Load xmm0 with a pattern, signal ourselves, and read xmm0 and MXCSR back once the handler
 * has returned through rt_sigreturn (nothing between the syscall and the reads touches them). */
static void fp_round_trip(void) {
    uint64_t out;
    uint32_t mx;
    long pid = getpid();
    __asm__ volatile("movq %[pattern], %%xmm0\n"
                     "mov $62, %%eax\n mov %[pid], %%rdi\n mov $10, %%esi\n syscall\n"
                     "movq %%xmm0, %[out]\n stmxcsr %[mx]\n"
                     : [out] "=r"(out), [mx] "=m"(mx)
                     : [pattern] "r"(0x0123456789abcdeful), [pid] "r"(pid)
                     : "rax", "rdi", "rsi", "rcx", "r11", "xmm0", "memory");
    uint16_t cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    uint32_t sane = 0x1f80;
    uint16_t sane_cw = 0x037f;
    __asm__ volatile("ldmxcsr %0\n fldcw %1" : : "m"(sane), "m"(sane_cw));
    printf("  back: xmm0=%#lx mxcsr=%#x fcw=%#x\n", (unsigned long)out, mx, cw);
}

static void report_altstack(const char *when) {
    stack_t now;
    sigaltstack(NULL, &now);
    printf("  %s: altstack flags %#x size %zu\n", when, now.ss_flags, now.ss_size);
}

static void autodisarm_handler(int sig) {
    report_altstack("in handler");
}

static void run_case(const char *name) {
    mode = name;
    setvbuf(stdout, NULL, _IONBF, 0);
    spare = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static char big_stack[1 << 16] __attribute__((aligned(64)));
    if (!strcmp(name, "ill_low_rsp")) {
        install(SIGILL, nothing, 0);
        ill_with_stack(0x100);
    } else if (!strcmp(name, "ill_rsp_zero")) {
        install(SIGILL, nothing, 0);
        ill_with_stack(0);
    } else if (!strcmp(name, "ill_low_rsp_segv_onstack")) {
        install(SIGILL, nothing, 0);
        install(SIGSEGV, segv_handler, SA_ONSTACK);
        altstack(big_stack, sizeof big_stack, 0);
        ill_with_stack(0x100);
    } else if (!strcmp(name, "ill_low_rsp_segv_handler")) {
        install(SIGILL, nothing, 0);
        install(SIGSEGV, segv_handler, 0);  /* the SIGSEGV frame cannot fit either: fatal */
        ill_with_stack(0x100);
    } else if (!strcmp(name, "altstack_too_small")) {
        install(SIGUSR1, nothing, SA_ONSTACK);
        altstack(big_stack + sizeof big_stack - 2048, 2048, 0);  /* the kernel's MINSIGSTKSZ; mapped below */
        raise(SIGUSR1);
        say("  survived\n");
    } else if (!strcmp(name, "altstack_unmapped")) {
        install(SIGUSR1, nothing, SA_ONSTACK);
        altstack(unmapped_pages(1 << 16), 1 << 16, 0);
        raise(SIGUSR1);
        say("  survived\n");
    } else if (!strcmp(name, "altstack_unmapped_segv_handler")) {
        install(SIGUSR1, nothing, SA_ONSTACK);
        install(SIGSEGV, segv_handler, 0);
        altstack(unmapped_pages(1 << 16), 1 << 16, 0);
        raise(SIGUSR1);
        say("  survived\n");
    } else if (!strcmp(name, "altstack_unmapped_segv_onstack")) {
        install(SIGUSR1, nothing, SA_ONSTACK);
        install(SIGSEGV, segv_handler, SA_ONSTACK);
        altstack(unmapped_pages(1 << 16), 1 << 16, 0);
        raise(SIGUSR1);
        say("  survived\n");
    } else if (!strcmp(name, "altstack_huge_size")) {
        install(SIGUSR1, nothing, SA_ONSTACK);
        altstack((void *)0x7ffffffff000ul, (size_t)-1 / 2, 0);
        raise(SIGUSR1);
        say("  survived\n");
    } else if (!strcmp(name, "autodisarm")) {
        install(SIGUSR1, autodisarm_handler, SA_ONSTACK);
        install(SIGUSR2, autodisarm_handler, 0);
        altstack(big_stack, sizeof big_stack, SS_AUTODISARM);
        raise(SIGUSR1);
        report_altstack("after SIGUSR1");
        raise(SIGUSR2);
        report_altstack("after SIGUSR2");
    } else if (!strcmp(name, "sigreturn_low_rsp")) {
        sigreturn_with_stack(0x10);
    } else if (!strcmp(name, "sigreturn_rsp_zero")) {
        sigreturn_with_stack(0);
    } else if (!strcmp(name, "sigreturn_low_rsp_segv_onstack")) {
        install(SIGSEGV, segv_handler, SA_ONSTACK);
        altstack(big_stack, sizeof big_stack, 0);
        sigreturn_with_stack(0x10);
    } else if (!strcmp(name, "sigreturn_low_rsp_segv_handler")) {
        install(SIGSEGV, segv_handler, 0);
        sigreturn_with_stack(0x10);
    } else {
        struct sigaction action = {.sa_sigaction = fp_tamper, .sa_flags = SA_SIGINFO};
        sigaction(SIGUSR1, &action, NULL);
        if (!strncmp(name, "uc_stack", 8)) {
            altstack(big_stack, sizeof big_stack, 0);
            raise(SIGUSR1);
            report_altstack("after");
        } else {
            fp_round_trip();
        }
    }
    _exit(0);
}

static const char *const cases[] = {
    "ill_low_rsp", "ill_rsp_zero", "ill_low_rsp_segv_onstack", "ill_low_rsp_segv_handler",
    "altstack_too_small", "altstack_unmapped", "altstack_unmapped_segv_handler",
    "altstack_unmapped_segv_onstack", "altstack_huge_size", "autodisarm",
    "sigreturn_low_rsp", "sigreturn_rsp_zero", "sigreturn_low_rsp_segv_onstack",
    "sigreturn_low_rsp_segv_handler",
    "fp_layout", "fp_xmm0", "fp_null", "fp_zero", "fp_ones", "fp_garbage", "fp_legacy_only",
    "fp_magic2", "fp_small_size", "fp_bad_mxcsr", "fp_bad_mxcsr_legacy", "fp_xcomp",
    "fp_header_byte16", "fp_header_tail", "fp_unsupported_feature", "fp_not_permitted",
    "fp_x87_cw", "fp_misaligned",
    "fp_misaligned_legacy", "fp_legacy_8", "fp_moved", "fp_unmapped",
    "uc_stack_garbage", "uc_stack_small",
};

static int wanted(int argc, char **argv, const char *name) {
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

/* sigframe [CASE...]: the named cases (default: all), in the table's order. */
int main(int argc, char **argv) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!wanted(argc, argv, cases[i]))
            continue;
        printf("%s:\n", cases[i]);
        fflush(stdout);
        pid_t child = fork();
        if (child == 0)
            run_case(cases[i]);
        int status;
        waitpid(child, &status, 0);
        if (WIFSIGNALED(status))
            printf("  killed by signal %d\n", WTERMSIG(status));
        else
            printf("  exit %d\n", WEXITSTATUS(status));
    }
    return 0;
}
