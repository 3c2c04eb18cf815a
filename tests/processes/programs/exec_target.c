/* What an exec'd program sees: its arguments, an environment variable, its pid. */
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
    printf("\n");
    return argc;
}
