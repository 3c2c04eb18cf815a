/*
 * sentrio-wait: what a served run's client becomes once the zygote has forked its run.
 *
 * `python -m kernel run` hands its run to a zygote (kernel/zygote/client.py); from then on the
 * client only stands in for the run, because the user's shell waits for the client's pid: it
 * passes signals on, stops and continues with the run, and ends as the run ended. An interpreter
 * doing that holds ~7 MiB of its own for the run's whole life; this program holds ~0.1 MiB. The
 * client executes it as
 *
 *     sentrio-wait CONNECTION_FD PIDFD [-- THE CLIENT'S ARGUMENTS]
 *
 * (the arguments after ``--`` are only there for ps to show) with the zygote connection (SOCK_SEQPACKET) and a pidfd of the run, and with the signals it
 * handles blocked (so none is lost between the client's exec and the handlers below). It does
 * exactly what client.py's Python loop does, which stays as the fallback where this program was
 * not built:
 *
 *   - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2: sent on to the run;
 *   - SIGTSTP, SIGTTIN, SIGTTOU: the run is stopped (SIGSTOP), then this process stops itself;
 *     when the shell continues it, it continues the run (SIGCONT);
 *   - the zygote's last message, the msgpack map {"status": WAIT_STATUS}: exit with the run's
 *     exit code, or die of the signal that killed it;
 *   - the connection's end without that message: exit 125 with a line on stderr.
 *
 * Built by pip with the package (setup.py); GPL-2.0-or-later, as the rest of Sentrio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2};
static const int stops[] = {SIGTSTP, SIGTTIN, SIGTTOU};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
#define EXIT_UNKNOWN 125

/* Signals caught and not yet dealt with. Written by the handler only while ppoll() waits. */
static volatile sig_atomic_t pending[NSIG];

static void note(int signo)
{
	pending[signo] = 1;
}

static void send_to_run(int pidfd, int signo)
{
	/* ESRCH: the run has just ended; the zygote's status message is on its way. */
	syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
}

static void deal_with_pending(int pidfd)
{
	for (size_t i = 0; i < COUNT(forwarded); i++) {
		if (pending[forwarded[i]]) {
			pending[forwarded[i]] = 0;
			send_to_run(pidfd, forwarded[i]);
		}
	}
	for (size_t i = 0; i < COUNT(stops); i++) {
		if (pending[stops[i]]) {
			pending[stops[i]] = 0;
			send_to_run(pidfd, SIGSTOP);
			kill(getpid(), SIGSTOP); /* returns once the shell continues us (fg, bg) */
			send_to_run(pidfd, SIGCONT);
		}
	}
}

/* The wait status in a msgpack map {"status": N}, N a non-negative integer; 0 if the message is
 * anything else (client.py ignores such messages too). */
static int parse_status(const unsigned char *message, size_t size, int *status)
{
	static const unsigned char key[] = {0x81, 0xa6, 's', 't', 'a', 't', 'u', 's'};
	if (size <= sizeof(key) || memcmp(message, key, sizeof(key)) != 0)
		return 0;
	const unsigned char *value = message + sizeof(key);
	size_t left = size - sizeof(key);
	uint64_t number = 0;
	size_t width;
	if (value[0] <= 0x7f) {
		*status = value[0];
		return left == 1;
	}
	switch (value[0]) {
	case 0xcc: width = 1; break;
	case 0xcd: width = 2; break;
	case 0xce: width = 4; break;
	default: return 0;
	}
	if (left != 1 + width)
		return 0;
	for (size_t i = 1; i <= width; i++)
		number = number << 8 | value[i];
	*status = (int)number;
	return 1;
}

/* End as the run ended: its exit code, or death by the same signal. */
static int end_as(int status)
{
	if (WIFSIGNALED(status)) {
		int signo = WTERMSIG(status);
		sigset_t just_it;
		if (signo != SIGKILL && signo != SIGSTOP)
			signal(signo, SIG_DFL);
		sigemptyset(&just_it);
		sigaddset(&just_it, signo);
		sigprocmask(SIG_UNBLOCK, &just_it, NULL);
		kill(getpid(), signo);
		return 128 + signo; /* a signal whose default is not to end us */
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_UNKNOWN;
}

static int parse_fd(const char *text)
{
	char *end;
	errno = 0;
	long fd = strtol(text, &end, 10);
	return (errno || *end || end == text || fd < 0 || fd > 1 << 20) ? -1 : (int)fd;
}

int main(int argc, char **argv)
{
	int well_formed = argc == 3 || (argc > 3 && strcmp(argv[3], "--") == 0);
	int conn = well_formed ? parse_fd(argv[1]) : -1;
	int pidfd = well_formed ? parse_fd(argv[2]) : -1;
	if (conn < 0 || pidfd < 0) {
		fputs("usage: sentrio-wait CONNECTION_FD PIDFD [-- ARGUMENTS] (run by `python -m kernel run`)\n", stderr);
		return EXIT_UNKNOWN;
	}
	sigset_t handled, during_wait;
	struct sigaction action = {.sa_handler = note};
	sigemptyset(&handled);
	for (size_t i = 0; i < COUNT(forwarded); i++)
		sigaddset(&handled, forwarded[i]);
	for (size_t i = 0; i < COUNT(stops); i++)
		sigaddset(&handled, stops[i]);
	/* Handled signals stay blocked except inside ppoll(), so one that arrives while we deal with
	 * another is seen at the next wait, never lost between a check and the wait. */
	sigprocmask(SIG_BLOCK, &handled, &during_wait);
	for (int signo = 1; signo < NSIG; signo++)
		if (sigismember(&handled, signo))
			sigdelset(&during_wait, signo);
	action.sa_mask = handled;
	for (int signo = 1; signo < NSIG; signo++)
		if (sigismember(&handled, signo))
			sigaction(signo, &action, NULL);

	unsigned char message[512];
	for (;;) {
		deal_with_pending(pidfd);
		struct pollfd readable = {.fd = conn, .events = POLLIN};
		if (ppoll(&readable, 1, NULL, &during_wait) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		ssize_t size = recv(conn, message, sizeof(message), MSG_DONTWAIT);
		if (size < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (size <= 0)
			break;
		int status;
		if (parse_status(message, (size_t)size, &status))
			return end_as(status);
	}
	fputs("sentrio: the zygote went away while it ran this sandbox; its status is unknown\n", stderr);
	return EXIT_UNKNOWN;
}
