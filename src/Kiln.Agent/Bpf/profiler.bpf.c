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
// User stacks are walked here, not by bpf_get_stackid: with the compact unwind tables the agent builds from each
// binary's .eh_frame (one BPF array per binary, shared by every process mapping it) the walk goes through code built
// without frame pointers — libc, python3, bash. Where no table covers a pc (JIT code, a process the agent has not
// loaded yet) the step follows the frame-pointer chain, exactly what bpf_get_stackid would do.
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

// Per process: executable mappings that have an unwind table (sorted by start). 8 binary-search steps cover them.
#define MAX_UNWIND_MAPPINGS 128
#define UNWIND_PROCESS_ENTRIES 8192
#define UNWIND_TABLE_ENTRIES 4096
// Rows of one binary: 24 binary-search steps cover 2^24; the agent refuses larger tables.
#define MAX_ROW_SEARCH_STEPS 24

#define EFAULT 14
#define EEXIST 17

char LICENSE[] SEC("license") = "GPL";

// Mirrored by Kiln.Agent.Bpf.SampleKey (32 bytes); keep the two in step.
struct sample_key {
    u32 pid;              // tgid: the process
    u32 tid;              // the thread
    s32 user_stack_id;    // >= 0: id in user_stacks_N; < 0: -errno (-EFAULT: no user stack, -EEXIST: collision)
    s32 kernel_stack_id;  // >= 0: id in stacks_N; < 0: -errno from bpf_get_stackid
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
    COUNTER_UNWIND_COMPLETE = 10,    // user stacks that reached the thread's root (an End row: _start, clone3)
    COUNTER_UNWIND_TRUNCATED = 11,   // user stacks cut at MAX_STACK_DEPTH frames
    COUNTER_UNWIND_TABLE_FRAMES = 12, // user frames stepped with an unwind table row
    COUNTER_UNWIND_FP_FRAMES = 13,   // user frames stepped with frame pointers (no row covers the pc)
    COUNTER_UNWIND_UNSUPPORTED = 14, // rows whose CFI the unwinder cannot follow (stepped with frame pointers)
    COUNTER_UNWIND_READ_FAILED = 15, // walks ended because user memory could not be read
    COUNTER_MAX = 16,
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

// How to step from a frame to its caller, from pc up to the next row's pc (pc is an address in the ELF file).
// Mirrored by Kiln.Symbolization.Unwinding.UnwindRow (16 bytes).
struct unwind_row {
    u64 pc;
    u8 kind;         // enum unwind_kind
    u8 rbp_rule;     // enum rbp_rule
    s16 rbp_offset;  // RBP_AT_CFA_OFFSET: the caller's rbp is saved at CFA + rbp_offset
    s32 cfa_offset;  // CFA = register + cfa_offset; for UNWIND_PLT the (rip & 15) threshold
};

// Mirrored by Kiln.Symbolization.Unwinding.UnwindKind.
enum unwind_kind {
    UNWIND_NO_INFO = 0,
    UNWIND_CFA_RSP = 1,
    UNWIND_CFA_RBP = 2,
    UNWIND_PLT = 3,
    UNWIND_SIGNAL = 4,
    UNWIND_END = 5,
    UNWIND_UNSUPPORTED = 6,
};

// Mirrored by Kiln.Symbolization.Unwinding.RbpRule.
enum rbp_rule {
    RBP_UNCHANGED = 0,
    RBP_AT_CFA_OFFSET = 1,
    RBP_UNKNOWN = 2,
};

// An executable mapping of a process whose file has an unwind table: ELF address = pc - bias.
// Mirrored by Kiln.Agent.Bpf.UnwindMapping (32 bytes).
struct unwind_mapping {
    u64 start;
    u64 end;
    u64 bias;
    u32 table_id;  // key in unwind_tables
    u32 rows;      // rows in that table
};

// The process started moments ago and may still be mapping its libraries: the first walk that meets a pc outside
// every known mapping announces the process again (once: the flag is cleared) so the agent re-reads its maps.
#define UNWIND_PROCESS_YOUNG 1

// Mirrored by Kiln.Agent.Bpf.UnwindProcess.
struct unwind_process {
    u32 count;
    u32 flags;
    struct unwind_mapping mappings[MAX_UNWIND_MAPPINGS];
};

// A walked user stack. Mirrored by Kiln.Agent.Bpf.UserStack (1032 bytes).
struct user_stack {
    u64 hash;      // of pcs[0..len): equal ids with different hashes are collisions
    u32 len;
    u32 complete;  // 1 when the walk reached the thread's root
    u64 pcs[MAX_STACK_DEPTH];
};

// Per-CPU scratch of the walk in progress (too big for the 512-byte BPF stack).
struct stack_walk {
    u64 pc;
    u64 sp;
    u64 bp;
    u32 pid;
    u32 interrupted;  // pc is where the thread was interrupted (leaf, signal), not a return address
    u32 stopped;
    u32 unknown_mapping;  // a pc of a known process fell outside every mapping with a table
    u32 search_lo;        // find_row's bounds and lookup key (see there)
    u32 search_hi;
    u32 search_key;
    u32 pad;
    struct unwind_row row;  // the row of the frame being stepped
    struct user_stack stack;
};

struct user_stack_map {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, u32);
    __type(value, struct user_stack);
    __uint(max_entries, STACK_ENTRIES);
};

struct user_stack_map user_stacks_0 SEC(".maps");
struct user_stack_map user_stacks_1 SEC(".maps");

// Unwind tables: table id -> one array of rows per binary, sized to it (created by the agent).
struct unwind_rows {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_INNER_MAP);
    __type(key, u32);
    __type(value, struct unwind_row);
    __uint(max_entries, 1);
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __type(key, u32);
    __uint(max_entries, UNWIND_TABLE_ENTRIES);
    __array(values, struct unwind_rows);
} unwind_tables SEC(".maps");

// pid -> its mappings with unwind tables. A process not in here is walked with frame pointers.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, u32);
    __type(value, struct unwind_process);
    __uint(max_entries, UNWIND_PROCESS_ENTRIES);
} unwind_processes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, u32);
    __type(value, struct stack_walk);
    __uint(max_entries, 1);
} unwind_scratch SEC(".maps");

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

struct pt_regs___kiln {
    unsigned long bp;
    unsigned long sp;
    unsigned long ip;
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


// The row covering pc in the process's mappings, or NULL (then the step uses frame pointers).
//
// Both binary searches keep their bounds and lookup key in the per-CPU scratch (map memory) and read them back with
// volatile loads each step, so the verifier sees every step start from the same state (unknown bounds) and prunes
// the search to a line instead of a tree. With the bounds in registers, the verifier of newer kernels (6.14 on, which
// mark a constant stack key precise to elide a lookup's NULL check) tracked them precisely, could not prune, and
// rejected the program past its 1M-instruction limit.
static __always_inline struct unwind_row *find_row(struct stack_walk *s, struct unwind_process *proc, u64 pc)
{
    volatile u32 *lo = &s->search_lo, *hi = &s->search_hi;
    u32 count = proc->count;
    *lo = 0;
    *hi = count > MAX_UNWIND_MAPPINGS ? MAX_UNWIND_MAPPINGS : count;
    // First mapping starting after pc; the one before it may contain pc.
    for (int i = 0; i < 8; i++) {
        u32 l = *lo, h = *hi;
        if (l >= h)
            break;
        u32 mid = (l + h) / 2;
        if (mid >= MAX_UNWIND_MAPPINGS)
            return NULL;
        if (proc->mappings[mid].start <= pc)
            *lo = mid + 1;
        else
            *hi = mid;
    }
    u32 found = *lo;
    if (found == 0 || found > MAX_UNWIND_MAPPINGS)
        return NULL;
    struct unwind_mapping *m = &proc->mappings[found - 1];
    if (pc >= m->end)
        return NULL;
    void *rows = bpf_map_lookup_elem(&unwind_tables, &m->table_id);
    if (!rows)
        return NULL;
    u64 target = pc - m->bias;
    // First row starting after target; the one before it covers target.
    *lo = 0;
    *hi = m->rows;
    for (int i = 0; i < MAX_ROW_SEARCH_STEPS; i++) {
        u32 l = *lo, h = *hi;
        if (l >= h)
            break;
        s->search_key = l + (h - l) / 2;
        struct unwind_row *row = bpf_map_lookup_elem(rows, &s->search_key);
        if (!row)
            return NULL;
        if (row->pc <= target)
            *lo = s->search_key + 1;
        else
            *hi = s->search_key;
    }
    u32 first = *lo;
    if (first == 0)
        return NULL;
    s->search_key = first - 1;
    return bpf_map_lookup_elem(rows, &s->search_key);
}

// Steps with the frame-pointer chain: [rbp] is the caller's rbp, [rbp + 8] the return address.
static __always_inline long step_frame_pointer(struct stack_walk *s)
{
    u64 frame[2];
    if (s->bp == 0) {
        s->stopped = 1;
        return 1;
    }
    if (bpf_probe_read_user(frame, sizeof(frame), (void *)s->bp) != 0) {
        count(COUNTER_UNWIND_READ_FAILED);
        s->stopped = 1;
        return 1;
    }
    if (s->bp + 16 <= s->sp) {
        // Callers' frames lie above (the stack grows down): anything else is not a frame chain, so the walk ends.
        s->stopped = 1;
        return 1;
    }
    count(COUNTER_UNWIND_FP_FRAMES);
    s->sp = s->bp + 16;
    s->bp = frame[0];
    s->pc = frame[1];
    s->interrupted = 0;
    return 0;
}

// One frame: records pc, then finds the caller's pc, sp and bp. Returns 1 to end the walk.
static long unwind_step(u64 index, void *unused)
{
    u32 zero = 0;
    struct stack_walk *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
    if (!s)
        return 1;
    if (s->pc == 0) {
        s->stopped = 1;
        return 1;
    }
    u32 depth = s->stack.len;
    if (depth >= MAX_STACK_DEPTH)
        return 1;
    s->stack.pcs[depth] = s->pc;
    s->stack.len = depth + 1;
    s->stack.hash = (s->stack.hash ^ s->pc) * 0x100000001b3ULL;

    struct unwind_process *proc = bpf_map_lookup_elem(&unwind_processes, &s->pid);
    if (!proc)
        return step_frame_pointer(s);
    // A return address may be one past the end of its caller's function (a call as the last instruction).
    struct unwind_row *found = find_row(s, proc, s->interrupted ? s->pc : s->pc - 1);
    if (!found) {
        s->unknown_mapping = 1;
        return step_frame_pointer(s);
    }
    s->row = *found;
    struct unwind_row row = s->row;

    u64 cfa;
    switch (row.kind) {
    case UNWIND_END:
        s->stack.complete = 1;
        s->stopped = 1;
        return 1;
    case UNWIND_CFA_RSP:
        cfa = s->sp + (s64)row.cfa_offset;
        break;
    case UNWIND_CFA_RBP:
        if (s->bp == 0) {
            s->stopped = 1;
            return 1;
        }
        cfa = s->bp + (s64)row.cfa_offset;
        break;
    case UNWIND_PLT:
        cfa = s->sp + 8 + ((s->pc & 15) >= (u64)row.cfa_offset ? 8 : 0);
        break;
    case UNWIND_SIGNAL: {
        // rsp points at the ucontext_t the kernel pushed: the interrupted registers are in its sigcontext.
        u64 regs[7]; // rbp at +120 .. rsp at +160, rip at +168
        if (bpf_probe_read_user(regs, sizeof(regs), (void *)(s->sp + 120)) != 0) {
            count(COUNTER_UNWIND_READ_FAILED);
            s->stopped = 1;
            return 1;
        }
        count(COUNTER_UNWIND_TABLE_FRAMES);
        s->bp = regs[0];
        s->sp = regs[5];
        s->pc = regs[6];
        s->interrupted = 1;
        return 0;
    }
    case UNWIND_UNSUPPORTED:
        count(COUNTER_UNWIND_UNSUPPORTED);
        return step_frame_pointer(s);
    default:
        return step_frame_pointer(s);
    }

    if (cfa <= s->sp) {
        // The caller's frame must be above this one: a table row that does not hold here ends the walk.
        s->stopped = 1;
        return 1;
    }
    u64 ra;
    if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)) != 0) {
        count(COUNTER_UNWIND_READ_FAILED);
        s->stopped = 1;
        return 1;
    }
    if (row.rbp_rule == RBP_AT_CFA_OFFSET) {
        u64 bp;
        if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + (s64)row.rbp_offset)) != 0) {
            count(COUNTER_UNWIND_READ_FAILED);
            s->stopped = 1;
            return 1;
        }
        s->bp = bp;
    } else if (row.rbp_rule == RBP_UNKNOWN) {
        s->bp = 0;
    }
    count(COUNTER_UNWIND_TABLE_FRAMES);
    s->sp = cfa;
    s->pc = ra;
    s->interrupted = 0;
    return 0;
}

// Walks the current task's user stack into user_stacks (the id goes into the sample key).
static __always_inline s32 walk_user_stack(void *user_stacks, u32 pid)
{
    struct task_struct___kiln *current = (void *)bpf_get_current_task();
    if (BPF_CORE_READ(current, mm) == 0)
        return -EFAULT; // kernel thread: no user stack
    u32 zero = 0;
    struct stack_walk *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
    if (!s)
        return -EFAULT;
    // The registers user space had when it entered the kernel (interrupt or system call).
    struct pt_regs___kiln *regs = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
    s->pc = BPF_CORE_READ(regs, ip);
    s->sp = BPF_CORE_READ(regs, sp);
    s->bp = BPF_CORE_READ(regs, bp);
    s->pid = pid;
    s->interrupted = 1;
    s->stopped = 0;
    s->unknown_mapping = 0;
    s->stack.len = 0;
    s->stack.complete = 0;
    s->stack.hash = 0xcbf29ce484222325ULL;
    bpf_loop(MAX_STACK_DEPTH, unwind_step, NULL, 0);
    if (s->unknown_mapping) {
        struct unwind_process *proc = bpf_map_lookup_elem(&unwind_processes, &pid);
        if (proc && (proc->flags & UNWIND_PROCESS_YOUNG)) {
            proc->flags = 0;
            u32 *event = bpf_ringbuf_reserve(&process_events, sizeof(u32), 0);
            if (event) {
                *event = pid;
                bpf_ringbuf_submit(event, 0);
            }
        }
    }
    if (s->stack.len == 0)
        return -EFAULT;
    if (s->stack.complete)
        count(COUNTER_UNWIND_COMPLETE);
    else if (!s->stopped && s->stack.len >= MAX_STACK_DEPTH)
        count(COUNTER_UNWIND_TRUNCATED);

    u64 hash = s->stack.hash ^ s->stack.len;
    s->stack.hash = hash;
    u32 id = (u32)(hash ^ (hash >> 32)) & 0x7fffffff;
    struct user_stack *known = bpf_map_lookup_elem(user_stacks, &id);
    if (known)
        return known->hash == hash ? (s32)id : -EEXIST;
    long err = bpf_map_update_elem(user_stacks, &id, &s->stack, BPF_NOEXIST);
    if (err == 0)
        return (s32)id;
    if (err == -EEXIST) {
        // Another CPU stored a stack with this id between the lookup and the update.
        known = bpf_map_lookup_elem(user_stacks, &id);
        if (known && known->hash == hash)
            return (s32)id;
        return -EEXIST;
    }
    return (s32)err;
}

static __always_inline int record(struct bpf_perf_event_data *ctx, void *stacks, void *user_stacks,
                                  void *counts, u64 pid_tgid)
{
    struct sample_key key = {};
    key.pid = pid_tgid >> 32;
    key.tid = (u32)pid_tgid;
    bpf_get_current_comm(&key.comm, sizeof(key.comm));
    key.user_stack_id = walk_user_stack(user_stacks, key.pid);
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
        return record(ctx, &stacks_1, &user_stacks_1, &counts_1, pid_tgid);
    return record(ctx, &stacks_0, &user_stacks_0, &counts_0, pid_tgid);
}
