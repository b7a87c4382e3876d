/* c-crash: a C program that fails on purpose, three calls deep, so that the crash report
 * names its C functions. argv[1]: "abort" (abort()), "segv" (a store through NULL), or
 * "exit" (exit(3): the domain must end as crashed, not powered off). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void c_level_three(const char *how) {
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "segv") == 0)
        *(volatile int *)0 = 42;
    if (strcmp(how, "exit") == 0)
        exit(3);
}

__attribute__((noinline)) static void c_level_two(const char *how) {
    c_level_three(how);
    printf("not reached\n");
}

__attribute__((noinline)) void c_level_one(const char *how) {
    c_level_two(how);
    printf("not reached\n");
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "abort";
    printf("c-crash: %s\n", how);
    fflush(stdout);
    c_level_one(how);
    return 0;
}
