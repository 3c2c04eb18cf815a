/* Prints the terminal's size as "rows x cols" each time a line arrives on stdin; exits at EOF
 * or on the line "q". */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
    char line[256];
    struct winsize size;
    for (;;) {
        if (ioctl(0, TIOCGWINSZ, &size) != 0) {
            perror("TIOCGWINSZ");
            return 1;
        }
        printf("size %dx%d\n", size.ws_row, size.ws_col);
        fflush(stdout);
        ssize_t n = read(0, line, sizeof line - 1);
        if (n <= 0 || line[0] == 'q')
            return 0;
    }
}
