/* What an exec'd program sees: its arguments, an environment variable, its pid, and the
 * signal actions exec left it (SIGUSR1 ignored before exec, SIGUSR2 caught). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("target argc %d:", argc);
    for (int i = 0; i < argc; i++) printf(" [%s]", argv[i]);
    const char *greeting = getenv("GREETING");
    printf(" GREETING=%s", greeting ? greeting : "(unset)");
    const char *pid = getenv("EXPECT_PID");
    if (pid) printf(" same pid %d", atoi(pid) == getpid());
    struct sigaction usr1, usr2;
    sigaction(SIGUSR1, NULL, &usr1);
    sigaction(SIGUSR2, NULL, &usr2);
    printf(" usr1 %s flags %#x mask %d, usr2 %s flags %#x", usr1.sa_handler == SIG_IGN ? "ignored" : "default",
           (unsigned)usr1.sa_flags, sigismember(&usr1.sa_mask, SIGTERM),
           usr2.sa_handler == SIG_DFL ? "default" : "caught", (unsigned)usr2.sa_flags);
    printf("\n");
    return argc;
}
