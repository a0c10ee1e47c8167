// SPDX-License-Identifier: Apache-2.0
// CPU sampling for Kiln's agent: runs on every cpu-clock sample of every online CPU and
// aggregates (pid, tid, comm, user stack, kernel stack) -> sample count in kernel maps that the
// agent drains once per profiling window.
//
// Double buffering: every map the program writes exists twice (suffix _0 / _1). The agent
// flips `active_buffer`, waits for in-flight programs to finish, and then drains and clears the
// idle half while the program writes to the other one. This keeps counts and the stack ids they
// refer to consistent within one window, without losing samples taken during the drain.
//
// New processes: the first sample of a process (or of a process image after exec) writes its pid to
// the `process_events` ring buffer, on which the agent blocks. It reads the process's memory maps
// and labels right away, so a process that exits before the window ends is still symbolized.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_STACK_DEPTH 127
#define COMM_LEN 16
#define STACK_ENTRIES 16384
#define COUNT_ENTRIES 16384
#define KNOWN_PROCESS_ENTRIES 16384
#define PROCESS_EVENTS_BYTES (64 * 1024)

#define EFAULT 14
#define EEXIST 17

char LICENSE[] SEC("license") = "GPL";

// Mirrored by Kiln.Agent.Bpf.SampleKey (32 bytes); keep the two in step.
struct sample_key {
    u32 pid;              // tgid: the process
    u32 tid;              // the thread
    s32 user_stack_id;    // >= 0: id in the stack map; < 0: -errno from bpf_get_stackid
    s32 kernel_stack_id;  // same convention
    char comm[COMM_LEN];  // the thread's comm (task->comm), NUL-padded
};

// Indexes into `counters`; mirrored by Kiln.Agent.Bpf.CounterIndex.
enum counter {
    COUNTER_SAMPLES = 0,             // non-idle samples seen
    COUNTER_IDLE = 1,                // samples of the idle task, skipped
    COUNTER_USER_STACK_EMPTY = 2,    // -EFAULT: no user stack to walk (kernel thread)
    COUNTER_KERNEL_STACK_EMPTY = 3,  // -EFAULT: no kernel stack (sample taken in user mode)
    COUNTER_USER_STACK_COLLISION = 4,   // -EEXIST: bucket held another stack, stack lost
    COUNTER_KERNEL_STACK_COLLISION = 5,
    COUNTER_USER_STACK_ERROR = 6,    // any other bpf_get_stackid failure
    COUNTER_KERNEL_STACK_ERROR = 7,
    COUNTER_COUNTS_DROPPED = 8,      // counts map full (or another update failure): sample lost
    COUNTER_NEW_PROCESS_DROPPED = 9, // process_events full: the agent learns of the process at window end
    COUNTER_MAX = 10,
};

struct stack_map {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(key_size, sizeof(u32));
    __uint(value_size, MAX_STACK_DEPTH * sizeof(u64));
    __uint(max_entries, STACK_ENTRIES);
};

struct count_map {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct sample_key);
    __type(value, u64);
    __uint(max_entries, COUNT_ENTRIES);
};

struct stack_map stacks_0 SEC(".maps");
struct stack_map stacks_1 SEC(".maps");
struct count_map counts_0 SEC(".maps");
struct count_map counts_1 SEC(".maps");

// Single entry: which half (0 or 1) the program writes to. Written only by the agent.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, u32);
    __type(value, u32);
    __uint(max_entries, 1);
} active_buffer SEC(".maps");

// pid -> address of its mm_struct when last announced; a different mm means the process exec'd.
// LRU: a forgotten process is announced again, which only costs the agent a re-read.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, u32);
    __type(value, u64);
    __uint(max_entries, KNOWN_PROCESS_ENTRIES);
} known_processes SEC(".maps");

// Announced processes: one u32 pid per record. The agent wakes only when there is something to read.
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, PROCESS_EVENTS_BYTES);
} process_events SEC(".maps");

// Only the field the program reads, relocated by libbpf against the running kernel's BTF (CO-RE), so
// the object does not depend on the layout of the kernel it was compiled on.
struct task_struct___kiln {
    void *mm;
} __attribute__((preserve_access_index));

// Per-CPU counters, never reset by the program; the agent reports differences between reads.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, u32);
    __type(value, u64);
    __uint(max_entries, COUNTER_MAX);
} counters SEC(".maps");

static __always_inline void count(u32 index)
{
    u64 *value = bpf_map_lookup_elem(&counters, &index);
    if (value)
        *value += 1; // per-CPU slot: no other writer while this program runs on this CPU
}

static __always_inline void classify(s32 id, u32 empty, u32 collision, u32 error)
{
    if (id >= 0)
        return;
    if (id == -EFAULT)
        count(empty);
    else if (id == -EEXIST)
        count(collision);
    else
        count(error);
}

static __always_inline int record(struct bpf_perf_event_data *ctx, void *stacks, void *counts,
                                  u64 pid_tgid)
{
    struct sample_key key = {};
    key.pid = pid_tgid >> 32;
    key.tid = (u32)pid_tgid;
    bpf_get_current_comm(&key.comm, sizeof(key.comm));
    key.user_stack_id = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
    key.kernel_stack_id = bpf_get_stackid(ctx, stacks, 0);
    classify(key.user_stack_id, COUNTER_USER_STACK_EMPTY, COUNTER_USER_STACK_COLLISION,
             COUNTER_USER_STACK_ERROR);
    classify(key.kernel_stack_id, COUNTER_KERNEL_STACK_EMPTY, COUNTER_KERNEL_STACK_COLLISION,
             COUNTER_KERNEL_STACK_ERROR);

    u64 *value = bpf_map_lookup_elem(counts, &key);
    if (value) {
        __sync_fetch_and_add(value, 1); // the same key can be hit from two CPUs at once
        return 0;
    }
    u64 one = 1;
    long err = bpf_map_update_elem(counts, &key, &one, BPF_NOEXIST);
    if (err == -EEXIST) {
        // Another CPU inserted the key between our lookup and update.
        value = bpf_map_lookup_elem(counts, &key);
        if (value) {
            __sync_fetch_and_add(value, 1);
            return 0;
        }
    }
    if (err != 0)
        count(COUNTER_COUNTS_DROPPED);
    return 0;
}

// Announces a process the first time it is sampled, and again after it exec'd.
static __always_inline void announce(u32 pid)
{
    struct task_struct___kiln *task = (void *)bpf_get_current_task();
    u64 mm = (u64)BPF_CORE_READ(task, mm);
    if (mm == 0)
        return; // kernel thread: no user space to read
    u64 *known = bpf_map_lookup_elem(&known_processes, &pid);
    if (known && *known == mm)
        return;
    bpf_map_update_elem(&known_processes, &pid, &mm, BPF_ANY);
    u32 *event = bpf_ringbuf_reserve(&process_events, sizeof(u32), 0);
    if (!event) {
        // Full: forget the process so that its next sample tries again.
        bpf_map_delete_elem(&known_processes, &pid);
        count(COUNTER_NEW_PROCESS_DROPPED);
        return;
    }
    *event = pid;
    bpf_ringbuf_submit(event, 0);
}

SEC("perf_event")
int sample(struct bpf_perf_event_data *ctx)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if ((pid_tgid >> 32) == 0) {
        count(COUNTER_IDLE);
        return 0;
    }
    count(COUNTER_SAMPLES);
    announce(pid_tgid >> 32);

    u32 zero = 0;
    u32 *active = bpf_map_lookup_elem(&active_buffer, &zero);
    if (active && *active == 1)
        return record(ctx, &stacks_1, &counts_1, pid_tgid);
    return record(ctx, &stacks_0, &counts_0, pid_tgid);
}
