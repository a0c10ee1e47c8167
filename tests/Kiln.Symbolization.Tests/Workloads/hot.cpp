// Spins in a namespaced C++ function; prints "PID ADDRESS" of it.
#include <cstdio>
#include <unistd.h>
#include <vector>

namespace kiln::work {
template <typename T>
struct Accumulator {
    __attribute__((noinline)) T add(const std::vector<T>& values);
};

template <typename T>
T Accumulator<T>::add(const std::vector<T>& values)
{
    volatile T sum = 0;
    for (auto v : values)
        sum = sum + v;
    return sum;
}

__attribute__((noinline)) int hot(int n)
{
    volatile int sum = 0;
    for (int i = 0; i < n; i++)
        sum += i;
    return sum;
}
}

int main()
{
    int (*f)(int) = &kiln::work::hot;
    long (kiln::work::Accumulator<long>::*g)(const std::vector<long>&) = &kiln::work::Accumulator<long>::add;
    std::printf("%d %p %p\n", (int)getpid(), (void *)f, *(void **)&g);
    std::fflush(stdout);
    std::vector<long> values(1000, 1);
    kiln::work::Accumulator<long> acc;
    for (;;)
        f(100000) + (acc.*g)(values);
}
