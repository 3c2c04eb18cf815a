/*
 * sigaltstack with SS_AUTODISARM (Linux's on_sig_stack): a thread whose alternate stack is
 * SS_AUTODISARM never counts as running on it, so sigaltstack reports no SS_ONSTACK and lets
 * it be changed even when the stack pointer is inside it (a coroutine library that runs code on
 * a stack it also registered); without the flag the same calls say SS_ONSTACK and EPERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

static char altstack[1 << 16] __attribute__((aligned(16)));
static ucontext_t main_context, on_stack;
static volatile int handled_flags = -1;

static void query(const char *when) {
    stack_t old;
    sigaltstack(NULL, &old);
    printf("%s: flags%s%s%s%s\n", when, old.ss_flags & SS_ONSTACK ? " SS_ONSTACK" : "",
           old.ss_flags & SS_DISABLE ? " SS_DISABLE" : "",
           (unsigned)old.ss_flags & SS_AUTODISARM ? " SS_AUTODISARM" : "", old.ss_flags ? "" : " 0");
}

static void set(const char *when, int flags) {
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = flags};
    int r = sigaltstack(&ss, NULL);
    printf("%s: sigaltstack(%#x) = %d%s%s\n", when, (unsigned)flags, r, r ? " " : "", r ? strerror(errno) : "");
}

/* Runs with its stack pointer inside the registered alternate stack. */
static void inside(void) {
    query("inside, armed with SS_AUTODISARM");
    set("inside, armed with SS_AUTODISARM", SS_AUTODISARM);
    set("inside, setting plain", 0);
    query("inside, plain");
    set("inside, plain, again", SS_AUTODISARM);
    swapcontext(&on_stack, &main_context);
}

static void handler(int signo) {
    (void)signo;
    stack_t old;
    sigaltstack(NULL, &old);
    handled_flags = old.ss_flags;
}

int main(void) {
    set("outside", SS_AUTODISARM);
    query("outside");
    getcontext(&on_stack);
    on_stack.uc_stack.ss_sp = altstack;
    on_stack.uc_stack.ss_size = sizeof altstack;
    on_stack.uc_link = &main_context;
    makecontext(&on_stack, inside, 0);
    swapcontext(&main_context, &on_stack);
    /* A signal delivered on an SS_AUTODISARM stack disarms it for the handler. */
    set("before the signal", SS_AUTODISARM);
    struct sigaction action = {.sa_handler = handler, .sa_flags = SA_ONSTACK};
    sigaction(SIGUSR1, &action, NULL);
    raise(SIGUSR1);
    printf("in the handler: flags %#x\n", (unsigned)handled_flags);
    query("after the handler");
    return 0;
}
