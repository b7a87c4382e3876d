/* c-sigterm: how a program meets `xl shutdown`. With "handler" it catches SIGTERM and
 * stops cleanly (exit 0); with "default" SIGTERM's default action applies; with "ignore"
 * it ignores SIGTERM and the domain is shut down after the grace period. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "handler";
    if (strcmp(how, "handler") == 0) {
        struct sigaction sa = {0};
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
    } else if (strcmp(how, "ignore") == 0) {
        signal(SIGTERM, SIG_IGN);
    }
    printf("c-sigterm: waiting (%s)\n", how);
    fflush(stdout);
    while (!stop)
        pause();
    printf("c-sigterm: SIGTERM received, stopping cleanly\n");
    return 0;
}
