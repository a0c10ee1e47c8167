// A mostly idle process that wakes up to burn a little CPU, so that many of them side by side are each sampled by
// the profiler while together they leave room for the rest of the machine.
//   clang-14 -O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-optimize-sibling-calls -o kiln-spin spin.c
// Usage: kiln-spin SECONDS BURN_MS PERIOD_MS — every PERIOD_MS, burns the CPU for BURN_MS (the first period starts
// at a random offset so that a crowd of them does not wake in step); exits after SECONDS.
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void burn(double seconds)
{
    double end = now() + seconds;
    unsigned long x = 7;
    while (now() < end)
        for (int i = 0; i < 1000; i++)
            x = (x * 6364136223846793005UL + 1442695040888963407UL) ^ (x >> 31);
    sink += x;
}

__attribute__((noinline)) void pause_for(double seconds)
{
    struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 60;
    double burn_s = (argc > 2 ? atof(argv[2]) : 4) / 1000;
    double period_s = (argc > 3 ? atof(argv[3]) : 500) / 1000;
    srand((unsigned)getpid());
    double end = now() + seconds;
    pause_for(period_s * (rand() / (double)RAND_MAX));
    while (now() < end) {
        double start = now();
        burn(burn_s);
        double rest = period_s - (now() - start);
        if (rest > 0)
            pause_for(rest);
    }
    return 0;
}
