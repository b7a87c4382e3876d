/* c-hello: C on Debian's musl under ferrun. Each check prints one line; the last line is
 * "N passed, N failed". The same program runs natively on the host, and its output there
 * is what the guest's console must show, byte for byte. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed, failed;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok)
        passed++;
    else
        failed++;
}

/* Keeps the compiler from folding values computed at run time. */
static double opaque(double x) {
    volatile double v = x;
    return v;
}

int main(int argc, char **argv) {
    printf("c-hello: %d argument%s:", argc - 1, argc == 2 ? "" : "s");
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");

    /* printf("%f") ends in SSE code that stores to 16-byte aligned stack slots. */
    printf("sqrt(2) = %f, pi = %.10f, e = %.17g\n", sqrt(opaque(2.0)), 4 * atan(opaque(1.0)),
           exp(opaque(1.0)));
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", opaque(1.0) / 3);
    check(strcmp(buf, "0.333") == 0, "snprintf of a double");

    /* A 16-byte aligned SSE local. */
    _Alignas(16) double pair[2] = {opaque(1.5), opaque(2.5)};
    check(((uintptr_t)pair & 15) == 0 && pair[0] + pair[1] == 4.0, "16-byte aligned local");

    /* malloc: small and large (mmap'd), zero-filled calloc, free. */
    char *small = malloc(100);
    char *big = malloc(1 << 20);
    int *zeros = calloc(1 << 16, sizeof(int));
    int all_zero = zeros != NULL;
    for (int i = 0; zeros && i < (1 << 16); i++)
        all_zero &= zeros[i] == 0;
    check(small && big && all_zero, "malloc, calloc");
    if (big)
        memset(big, 0x5a, 1 << 20);
    check(big && big[12345] == 0x5a, "a 1 MiB block is usable");
    free(small);
    free(big);
    free(zeros);

    /* Time moves forward. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    check(ns >= 20 * 1000 * 1000, "nanosleep(20 ms) sleeps at least 20 ms");
    check(time(NULL) > 1600000000, "the wall clock is past 2020");

    /* qsort of doubles. */
    double v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = sin(opaque(i));
    int cmp(const void *x, const void *y);
    qsort(v, 1000, sizeof v[0], cmp);
    int sorted = 1;
    for (int i = 1; i < 1000; i++)
        sorted &= v[i - 1] <= v[i];
    check(sorted, "qsort of 1000 doubles");

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}
