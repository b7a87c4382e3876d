/* c-hello: C on Debian's musl under ferrun. Each check prints one line; the last line is
 * "N passed, N failed". The same program runs natively on the host, and its output there
 * is what the guest's console must show, byte for byte. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
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

    void threads(void);
    threads();

    /* Figures (left out of the comparison with the host): a null system call against a
     * plain function call, averaged over many. */
    void figures(void);
    figures();

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* 16 threads each format doubles with snprintf("%f") (SSE code on their own stacks). */
#define THREADS 16
struct job {
    int id;
    char text[64];
    char name[16];
};

static void *format_job(void *p) {
    struct job *j = p;
    char name[16];
    snprintf(name, sizeof name, "fmt-%d", j->id);
    pthread_setname_np(pthread_self(), name);
    pthread_getname_np(pthread_self(), j->name, sizeof j->name);
    _Alignas(16) double local[2] = {opaque(j->id), opaque(0.25)};
    snprintf(j->text, sizeof j->text, "%f", sqrt(local[0]) + local[1]);
    return NULL;
}

/* A mutex and a condition variable hand 1000 numbers from one thread to another. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int slot, full, done;

static void *producer(void *p) {
    (void)p;
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&lock);
        while (full)
            pthread_cond_wait(&changed, &lock);
        slot = i;
        full = 1;
        pthread_cond_signal(&changed);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static long consume(void) {
    long sum = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!full && !done)
            pthread_cond_wait(&changed, &lock);
        if (full) {
            sum += slot;
            full = 0;
            pthread_cond_signal(&changed);
        } else if (done) {
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return sum;
}

void threads(void) {
    struct job jobs[THREADS];
    pthread_t t[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        jobs[i].id = i;
        jobs[i].text[0] = 0;
        started += pthread_create(&t[i], NULL, format_job, &jobs[i]) == 0;
    }
    check(started == THREADS, "16 threads started");
    int right = 0, named = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        char want[64], name[16];
        snprintf(want, sizeof want, "%f", sqrt(opaque(i)) + 0.25);
        snprintf(name, sizeof name, "fmt-%d", i);
        right += strcmp(want, jobs[i].text) == 0;
        named += strcmp(name, jobs[i].name) == 0;
    }
    printf("thread 15 formatted %s\n", jobs[15].text);
    check(right == THREADS, "printf(\"%f\") in 16 threads");
    check(named == THREADS, "pthread_setname_np and pthread_getname_np");

    pthread_t prod;
    pthread_create(&prod, NULL, producer, NULL);
    long sum = consume();
    pthread_join(prod, NULL);
    check(sum == 500500, "mutex and condition variable hand over 1000 numbers");

    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 30 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&lock);
    int r = pthread_cond_timedwait(&changed, &lock, &until);
    pthread_mutex_unlock(&lock);
    check(r == ETIMEDOUT, "pthread_cond_timedwait times out");
}

__attribute__((noinline)) int plain_call(int x) {
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

void figures(void) {
    const int n = 200000;
    long long t0 = now_ns();
    for (int i = 0; i < n; i++)
        (void)getpid();
    long long t1 = now_ns();
    volatile int acc = 0;
    for (int i = 0; i < n; i++)
        acc = plain_call(acc);
    long long t2 = now_ns();
    printf("figure null-syscall-ns %lld\n", (t1 - t0) / n);
    printf("figure function-call-ns %lld.%02lld\n", (t2 - t1) / n, (t2 - t1) * 100 / n % 100);
}

int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}
