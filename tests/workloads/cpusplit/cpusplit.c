// CPU workload with a known split: about 2/3 of its CPU in two_thirds() and 1/3 in one_third(), both under
// main → run_workload → step. Build with exact frame pointers (tests/workloads/README.md):
//   clang-14 -O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-optimize-sibling-calls -o cpusplit cpusplit.c
// Usage: cpusplit SECONDS — prints its pid, then burns one core for SECONDS.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

// Both loops do the same work per iteration; two_thirds runs twice as many iterations.
__attribute__((noinline)) unsigned long two_thirds(unsigned long n)
{
    unsigned long x = 17;
    for (unsigned long i = 0; i < n; i++)
        x = (x * 2862933555777941757UL + i) ^ (x >> 29);
    return x;
}

__attribute__((noinline)) unsigned long one_third(unsigned long n)
{
    unsigned long x = 31;
    for (unsigned long i = 0; i < n; i++)
        x = (x * 3202034522624059733UL + i) ^ (x >> 27);
    return x;
}

__attribute__((noinline)) void step(unsigned long n)
{
    sink += two_thirds(2 * n);
    sink += one_third(n);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void run_workload(double seconds)
{
    double end = now() + seconds;
    while (now() < end)
        for (int i = 0; i < 100; i++)
            step(20000);
}

int main(int argc, char **argv)
{
    printf("%d\n", getpid());
    fflush(stdout);
    run_workload(argc > 1 ? atof(argv[1]) : 10);
    return 0;
}
