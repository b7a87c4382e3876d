/* c-signals: POSIX signals as real programs use them (handlers, masks, EINTR and
 * SA_RESTART, sigsuspend, sigtimedwait, alarm and setitimer, SIGPIPE, raise, threads).
 * Each check prints one line; the last line is "N passed, N failed". The same program
 * runs natively on the host, and its output there is what the guest's console must show,
 * byte for byte. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok)
        passed++;
    else
        failed++;
}

static volatile sig_atomic_t got, got_sig, info_code, info_pid;
static volatile double fpu_check;

static void on_usr1(int sig) {
    got++;
    got_sig = sig;
    /* The handler uses the FPU: the interrupted code's values must survive it. */
    double x = 1.0;
    for (int i = 0; i < 10; i++)
        x = x * 3.0 / 2.0;
    fpu_check = x;
}

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    info_code = si->si_code;
    info_pid = si->si_pid;
}

static void on_alarm(int sig) {
    (void)sig;
    got++;
}

static void *thread_main(void *arg) {
    (void)arg;
    return NULL;
}

/* Writes a byte to the pipe `arg` after 300 ms. */
static void *late_writer(void *arg) {
    int fd = *(int *)arg;
    struct timespec ts = {0, 300000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    write(fd, "y", 1);
    return NULL;
}

int main(void) {
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    check(sigaction(SIGUSR1, &sa, &old) == 0 && old.sa_handler == SIG_DFL, "sigaction installs, the old one was SIG_DFL");
    double before = 0.1 * 3;
    check(raise(SIGUSR1) == 0 && got == 1 && got_sig == SIGUSR1, "raise runs the handler before it returns");
    check(before == 0.1 * 3 && fpu_check > 57.6 && fpu_check < 57.7, "the FPU state survives the handler");
    check(kill(getpid(), SIGUSR1) == 0 && got == 2, "kill(getpid()) runs it too");

    sigset_t block, pending, prev;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    check(sigprocmask(SIG_BLOCK, &block, &prev) == 0, "block SIGUSR1");
    raise(SIGUSR1);
    check(got == 2, "a blocked signal is not delivered");
    check(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1), "it is pending");
    raise(SIGUSR1);
    check(sigprocmask(SIG_SETMASK, &prev, NULL) == 0 && got == 3, "unblocking delivers it once (standard signals do not queue)");

    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR2, &sa, NULL);
    check(raise(SIGUSR2) == 0, "an ignored signal is dropped");

    struct sigaction si = {0};
    si.sa_sigaction = on_info;
    si.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &si, NULL);
    kill(getpid(), SIGUSR2);
    check(got_sig == SIGUSR2 && info_code == SI_USER && info_pid == getpid(), "SA_SIGINFO: si_code SI_USER and si_pid");

    /* EINTR: a blocking read interrupted by SIGALRM without SA_RESTART. */
    int p[2];
    pipe(p);
    struct sigaction al = {0};
    al.sa_handler = on_alarm;
    sigaction(SIGALRM, &al, NULL);
    got = 0;
    alarm(1);
    char c;
    ssize_t n = read(p[0], &c, 1);
    check(n < 0 && errno == EINTR && got == 1, "alarm interrupts a blocking read with EINTR");

    /* SA_RESTART does not restart nanosleep (Linux returns EINTR and the time left). */
    al.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &al, NULL);
    struct itimerval it = {{0, 0}, {0, 200000}};
    got = 0;
    check(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer(ITIMER_REAL, 200 ms)");
    {
        struct timespec ts = {0, 500000000};
        /* sleep is interrupted by the timer: nanosleep returns EINTR and the time left. */
        struct timespec rem = {0, 0};
        int r = nanosleep(&ts, &rem);
        check(r < 0 && errno == EINTR && got == 1 && rem.tv_nsec > 0, "nanosleep: EINTR with the time left, even under SA_RESTART");
    }
    write(p[1], "x", 1);
    check(read(p[0], &c, 1) == 1 && c == 'x', "the pipe still works");

    /* SA_RESTART: a blocking read goes on after the handler and gets the late byte. */
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_t w;
    pthread_sigmask(SIG_BLOCK, &alrm, NULL);
    pthread_create(&w, NULL, late_writer, &p[1]);
    pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
    got = 0;
    struct itimerval soon = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &soon, NULL);
    n = read(p[0], &c, 1);
    check(n == 1 && c == 'y' && got == 1, "SA_RESTART: the read restarts after the handler");
    pthread_join(w, NULL);
    close(p[0]);
    close(p[1]);

    /* sigsuspend: waits with SIGUSR1 unblocked, returns EINTR after the handler. */
    sigprocmask(SIG_BLOCK, &block, &prev);
    struct itimerval once = {{0, 0}, {0, 100000}};
    al.sa_flags = 0;
    sigaction(SIGALRM, &al, NULL);
    got = 0;
    setitimer(ITIMER_REAL, &once, NULL);
    sigset_t wait_mask;
    sigemptyset(&wait_mask);
    check(sigsuspend(&wait_mask) < 0 && errno == EINTR && got == 1, "sigsuspend returns EINTR after the handler");
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(sigismember(&now, SIGUSR1), "and the mask from before it is back");

    /* sigtimedwait: takes a blocked signal without its handler. */
    int before_got = got;
    raise(SIGUSR1);
    siginfo_t info;
    struct timespec zero = {0, 0};
    check(sigtimedwait(&block, &info, &zero) == SIGUSR1 && info.si_signo == SIGUSR1 && got == before_got,
          "sigtimedwait takes the pending SIGUSR1, no handler");
    check(sigtimedwait(&block, &info, &zero) < 0 && errno == EAGAIN, "then nothing: EAGAIN");
    sigprocmask(SIG_SETMASK, &prev, NULL);

    /* SIGPIPE: ignored, a write to a pipe without a reader is EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    pipe(p);
    close(p[0]);
    check(write(p[1], "x", 1) < 0 && errno == EPIPE, "SIG_IGN for SIGPIPE: EPIPE");
    close(p[1]);

    /* Threads: a new thread starts with its creator's mask. */
    sigprocmask(SIG_BLOCK, &block, &prev);
    pthread_t th;
    check(pthread_create(&th, NULL, thread_main, NULL) == 0 && pthread_join(th, NULL) == 0, "a thread runs with signals set up");
    check(pthread_kill(pthread_self(), 0) == 0, "pthread_kill(self, 0)");
    sigprocmask(SIG_SETMASK, &prev, NULL);

    check(kill(99999, SIGUSR1) < 0 && errno == ESRCH, "kill of another process: ESRCH");
    check(sigaction(SIGKILL, &sa, NULL) < 0 && errno == EINVAL, "SIGKILL cannot be caught");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
