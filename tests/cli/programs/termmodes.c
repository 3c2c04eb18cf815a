/* Sets its terminal's modes as a full-screen program does and prints what it reads back, one
 * "key value" line each (output goes through the terminal: in raw mode lines end in \r\n by
 * hand). Steps: cfmakeraw + tcsetattr, one key read without Enter and without echo, tcflush,
 * tcdrain, tcflow, tcsendbreak, a window size set (SIGWINCH counted), the old modes restored.
 * Without a terminal it prints the errors tcgetattr/tcsetattr give. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t winches;

static void on_winch(int signo) {
    (void)signo;
    winches++;
}

static void say(const char *key, long value) {
    char line[128];
    int n = snprintf(line, sizeof line, "%s %ld\r\n", key, value);
    write(1, line, n);
}

static const char *flags(const struct termios *t) {
    static char text[64];
    snprintf(text, sizeof text, "icanon=%d echo=%d isig=%d opost=%d vmin=%d", !!(t->c_lflag & ICANON),
             !!(t->c_lflag & ECHO), !!(t->c_lflag & ISIG), !!(t->c_oflag & OPOST), t->c_cc[VMIN]);
    return text;
}

int main(void) {
    struct termios before, raw, now, after;
    memset(&before, 0, sizeof before); /* tcgetattr leaves glibc's spare bytes alone */
    memset(&now, 0, sizeof now);
    memset(&after, 0, sizeof after);
    if (tcgetattr(0, &before) != 0) {
        int got = errno;
        struct termios any;
        memset(&any, 0, sizeof any);
        printf("tcgetattr %s\ntcsetattr %s\n", strerror(got), tcsetattr(0, TCSANOW, &any) ? strerror(errno) : "ok");
        return 0;
    }
    printf("before %s\n", flags(&before));
    fflush(stdout);
    raw = before;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSAFLUSH, &raw) != 0) {
        printf("tcsetattr %s\n", strerror(errno));
        return 0;
    }
    tcgetattr(0, &now);
    char line[128];
    write(1, line, snprintf(line, sizeof line, "raw %s\r\n", flags(&now)));
    say("same", memcmp(&now, &raw, sizeof raw) == 0);
    write(1, "ready\r\n", 7);
    char key = 0;
    say("read", read(0, &key, 1));
    say("key", key);
    say("tcflush", tcflush(0, TCIFLUSH));
    say("tcdrain", tcdrain(1));
    say("tcflow", tcflow(1, TCOOFF) | tcflow(1, TCOON));
    say("tcsendbreak", tcsendbreak(1, 0));
    signal(SIGWINCH, on_winch);
    struct winsize size = {.ws_row = 11, .ws_col = 22}, got;
    say("setwinsize", ioctl(1, TIOCSWINSZ, &size));
    ioctl(1, TIOCGWINSZ, &got);
    say("rows", got.ws_row);
    say("cols", got.ws_col);
    say("winches", winches);
    say("restore", tcsetattr(0, TCSADRAIN, &before));
    tcgetattr(0, &after);
    printf("after %s\nrestored %d\n", flags(&after), memcmp(&after, &before, sizeof before) == 0);
    return 0;
}
