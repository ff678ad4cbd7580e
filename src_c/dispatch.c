/* The one place that knows the CPU, picks a SIMD path and decides how many threads a fill
 * uses and which thread writes which elements.
 *
 * State. Mutable global state of the kernel, none of which can change a value (a value depends
 * only on its index, docs/algorithm.md); docs/hardening.md ("Threads") cites this list:
 *  1. the fork marker (forked_child): 0 -> 1 once, in a forked child; never cleared;
 *  2. the thread settings (setting_*): piece size, streaming stores, the CPU limit and the
 *     load signal's switch; the build's defaults until fastki_configure hands in what
 *     fastki/_settings.py read;
 *  3. the helpers (helpers, helpers_started, helpers_awake): threads started on demand and
 *     never ended, each idle or assigned one fill;
 *  4. the jobs: one per multi-threaded fill, freed by the last thread to let go of it;
 *  5. each thread's last fill report (last_report, thread-local), read by tests;
 *  6. the load signal's last sample (load_sampled_at, load_free): Linux only;
 *  7. the CPU features MSVC builds read once (msvc_cpu_has; GCC and Clang ask their runtime;
 *     racing first reads store the same value).
 * Tests only: the hold on the helpers (debug_hold, src_c/fastki_debug.h). */
#if defined(__linux__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* pthread_sigmask, clock_gettime, sysconf under -std=c99 */
#endif
#include "fastki.h"
#include "fastki_debug.h"

#include <stdlib.h>
#include <string.h>

/* POSIX systems run multi-threaded fills on helpers of fastki's own (below, "threads");
 * others on an OpenMP team, as do builds with FASTKI_NO_POOL (tests/test_threads_split.py
 * builds tests/c/test_threads.c so, to run the Windows path here). */
#if (defined(__unix__) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))
#include <pthread.h>
#include <signal.h>
#define FASTKI_FORK_GUARD 1
#ifndef FASTKI_NO_POOL
#define FASTKI_POOL 1
#endif
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "approx.h"
#include "philox.h"

/* Outputs at least this large are written with streaming stores: about the last-level cache
 * of the machines we measured (32 MiB), beyond which the output cannot stay cached anyway.
 * FASTKI_STREAMING=on/off overrides it (fastki_configure). */
#ifndef FASTKI_STREAM_MIN_BYTES
#define FASTKI_STREAM_MIN_BYTES (UINT64_C(32) << 20)
#endif

/* Waking a helper costs a few microseconds; a thread pays off once its share of the work
 * takes about 4 us. Work is counted in "uniform float32 elements" (about 0.5 ns each on one
 * AVX2/AVX-512 core); element_cost() weighs the other fills. Measured with a C harness over
 * 2**10..2**17 elements, one vs two threads: uniform float32 breaks even near 4096
 * elements, normal float32 near 2048, truncated normal float32 near 1024. */
#ifndef FASTKI_MIN_WORK_PER_THREAD
#define FASTKI_MIN_WORK_PER_THREAD UINT64_C(8192)
#endif

/* The largest piece a thread claims, in groups (FASTKI_CHUNK_GROUPS). 256 groups are 20480
 * float32 or 8192 float64 elements (80 or 64 KiB), 10-40 us of work on one core: a claim, one
 * atomic operation on a shared counter, costs well under 1% of that. Towards the end of a
 * fill pieces shrink to (what is left) / (2 x threads), down to FASTKI_MIN_CHUNK_GROUPS
 * (16 groups, 1-3 us), so the threads finish within a small piece of each other. */
#ifndef FASTKI_CHUNK_GROUPS
#define FASTKI_CHUNK_GROUPS 256
#endif
#define FASTKI_CHUNK_GROUPS_MAX 16777216 /* 2**24: keeps piece lengths far from overflow */
#ifndef FASTKI_MIN_CHUNK_GROUPS
#define FASTKI_MIN_CHUNK_GROUPS 16
#endif

/* Helper threads at most: a fill runs on its calling thread and up to this many helpers. */
#define FASTKI_MAX_HELPERS 255

typedef void (*fill_range_fn)(const fastki_request *, uint64_t, uint64_t, void *, int);

void fastki_fill_range_scalar(const fastki_request *, uint64_t, uint64_t, void *, int);
#ifdef FASTKI_HAVE_SSE2
void fastki_fill_range_sse2(const fastki_request *, uint64_t, uint64_t, void *, int);
#endif
#ifdef FASTKI_HAVE_AVX2
void fastki_fill_range_avx2(const fastki_request *, uint64_t, uint64_t, void *, int);
#endif
#ifdef FASTKI_HAVE_AVX512
void fastki_fill_range_avx512(const fastki_request *, uint64_t, uint64_t, void *, int);
#endif

#ifdef FASTKI_HAVE_NEON
void fastki_fill_range_neon(const fastki_request *, uint64_t, uint64_t, void *, int);
#endif

/* CPU features of the x86 paths. GCC and Clang: their runtime's table, which also asks the
 * OS whether it saves the wide registers. MSVC: cpuid, and xgetbv for that OS question (the
 * AVX state in XCR0 bits 1-2, the AVX-512 state in bits 5-7), read once: the answer cannot
 * change while the process runs, so concurrent first calls all store the same value. AArch64
 * needs no detection: Advanced SIMD (the neon path) is part of the baseline. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__)) && \
    !defined(FASTKI_CPUID_CHECK)
#define CPU_HAS(feature) __builtin_cpu_supports(#feature)
#elif (defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))) || defined(FASTKI_CPUID_CHECK)
/* FASTKI_CPUID_CHECK: ci/aarch64.sh compiles this branch with GCC (tests/c/msvc_shim/ gives
 * it MSVC's intrinsics) and checks its answers against GCC's own table */
#include <intrin.h>
#include <immintrin.h>
enum { CPU_SSE2 = 1, CPU_AVX2 = 2, CPU_AVX512F = 4, CPU_AVX512DQ = 8, CPU_AVX512BW = 16,
       CPU_AVX512VL = 32, CPU_KNOWN = 1 << 30 };

static int msvc_cpu_features(void)
{
    int r[4], features = CPU_KNOWN;
    __cpuid(r, 0);
    int max_leaf = r[0];
    __cpuid(r, 1);
    if (r[3] & (1 << 26)) features |= CPU_SSE2;
    int osxsave = (r[2] & (1 << 27)) != 0, avx = (r[2] & (1 << 28)) != 0;
    if (!osxsave || !avx || max_leaf < 7) return features;
    unsigned long long xcr0 = _xgetbv(0);
    if ((xcr0 & 0x6) != 0x6) return features; /* the OS does not save the YMM state */
    __cpuidex(r, 7, 0);
    if (r[1] & (1 << 5)) features |= CPU_AVX2;
    if ((xcr0 & 0xE6) == 0xE6) { /* ZMM and opmask state saved too */
        if (r[1] & (1 << 16)) features |= CPU_AVX512F;
        if (r[1] & (1 << 17)) features |= CPU_AVX512DQ;
        if (r[1] & (1 << 30)) features |= CPU_AVX512BW;
        if ((unsigned)r[1] & 0x80000000u) features |= CPU_AVX512VL;
    }
    return features;
}

static int msvc_cpu_has(int bit)
{
    static volatile long cached = 0; /* 0: not read yet; CPU_KNOWN set once read */
    long f = cached;
    if (!f) cached = f = msvc_cpu_features();
    return (f & bit) != 0;
}

/* the feature names __builtin_cpu_supports takes, mapped to cpuid bits */
#define CPU_BIT_sse2 CPU_SSE2
#define CPU_BIT_avx2 CPU_AVX2
#define CPU_BIT_avx512f CPU_AVX512F
#define CPU_BIT_avx512dq CPU_AVX512DQ
#define CPU_BIT_avx512bw CPU_AVX512BW
#define CPU_BIT_avx512vl CPU_AVX512VL
#define CPU_HAS(feature) msvc_cpu_has(CPU_BIT_##feature)
#else
#define CPU_HAS(feature) 0
#endif

static const char *const simd_names[FASTKI_SIMD_COUNT] = {"scalar", "sse2", "avx2", "avx512",
                                                          "neon"};

const char *fastki_simd_name(int simd)
{
    return (simd >= 0 && simd < FASTKI_SIMD_COUNT) ? simd_names[simd] : "unknown";
}

static fill_range_fn path_function(int simd)
{
    switch (simd) {
    case FASTKI_SIMD_SCALAR: return fastki_fill_range_scalar;
#ifdef FASTKI_HAVE_SSE2
    case FASTKI_SIMD_SSE2: return CPU_HAS(sse2) ? fastki_fill_range_sse2 : NULL;
#endif
#ifdef FASTKI_HAVE_AVX2
    case FASTKI_SIMD_AVX2: return CPU_HAS(avx2) ? fastki_fill_range_avx2 : NULL;
#endif
#ifdef FASTKI_HAVE_AVX512
    case FASTKI_SIMD_AVX512:
        return (CPU_HAS(avx512f) && CPU_HAS(avx512dq) && CPU_HAS(avx512bw) &&
                CPU_HAS(avx512vl))
                   ? fastki_fill_range_avx512
                   : NULL;
#endif
#ifdef FASTKI_HAVE_NEON
    case FASTKI_SIMD_NEON: return fastki_fill_range_neon;
#endif
    default: return NULL;
    }
}

int fastki_simd_available(int simd) { return path_function(simd) != NULL; }

int fastki_simd_best(void)
{
    for (int s = FASTKI_SIMD_COUNT - 1; s > FASTKI_SIMD_SCALAR; s--)
        if (fastki_simd_available(s)) return s;
    return FASTKI_SIMD_SCALAR;
}

#ifdef FASTKI_FORK_GUARD
/* fork() and threads: a forked child has only the thread that called fork(); fastki's helpers
 * and the team of GNU libgomp (which keeps its bookkeeping after a parallel region, so that a
 * child's next region waits for threads it does not have; reproduced by
 * tests/test_hardening_fork.py) stay behind in the parent, possibly mid-job with a lock held.
 * Hence every process forked after this library was loaded fills on its calling thread only;
 * values are unchanged (the contract does not depend on the thread count). The marker (State
 * 1) is written once, 0 -> 1, by the atfork child handler (the child then has a single
 * thread), inherited by the child's own children, never cleared. exec() starts afresh. */
static volatile int forked_child = 0;

static void mark_forked_child(void) { forked_child = 1; }

/* Registered when the shared object is loaded, before any fork that could matter. */
__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, mark_forked_child);
}

static int in_forked_child(void) { return forked_child; }
#else
static int in_forked_child(void) { return 0; }
#endif

int fastki_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fastki_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ------------------------------------------------------------------ threads
 * Everything below decides how many threads a fill runs on and which thread writes which
 * elements. None of it can change a value: an element's value depends only on its index
 * (docs/algorithm.md), and every piece handed to a thread is a whole number of groups in
 * absolute element index (80 float32 / 32 float64 elements / 64 words: 320 / 256 / 256 bytes,
 * a multiple of every vector width, so each piece starts at the alignment the whole output
 * has). */

/* Atomic operations on 64-bit counters. Relaxed, except where one thread hands another memory
 * it wrote: a job to a helper (store_u64_release, load_u64_acquire: the helper must see the
 * job's fields), and a fill's elements back to the calling thread (add_u64_release when a
 * piece is counted, load_u64_acquire when the count is read). */
#if defined(__GNUC__) || defined(__clang__)
static inline uint64_t load_u64(volatile uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline uint64_t load_u64_acquire(volatile uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void store_u64(volatile uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void store_u64_release(volatile uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint64_t add_u64(volatile uint64_t *p, uint64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static inline uint64_t add_u64_release(volatile uint64_t *p, uint64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
}
static inline int cas_u64(volatile uint64_t *p, uint64_t *expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
#define FASTKI_TLS __thread
#elif defined(_MSC_VER)
#include <intrin.h>
/* the Interlocked functions are full barriers */
static __inline uint64_t load_u64(volatile uint64_t *p)
{
    return (uint64_t)_InterlockedCompareExchange64((volatile __int64 *)p, 0, 0);
}
#define load_u64_acquire load_u64
static __inline uint64_t add_u64(volatile uint64_t *p, uint64_t v)
{
    return (uint64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v) + v;
}
#define add_u64_release add_u64
static __inline void store_u64(volatile uint64_t *p, uint64_t v)
{
    _InterlockedExchange64((volatile __int64 *)p, (__int64)v);
}
#define store_u64_release store_u64
static __inline int cas_u64(volatile uint64_t *p, uint64_t *expected, uint64_t desired)
{
    uint64_t seen = (uint64_t)_InterlockedCompareExchange64((volatile __int64 *)p, (__int64)desired,
                                                            (__int64)*expected);
    if (seen == *expected) return 1;
    *expected = seen;
    return 0;
}
#define FASTKI_TLS __declspec(thread)
#else
/* Any other compiler: one OpenMP lock for every counter (slower claims, same bytes); without
 * thread-local storage the fill report is the last one of the process, not of the thread. */
static uint64_t load_u64(volatile uint64_t *p)
{
    uint64_t v;
#pragma omp critical(fastki_atomic)
    v = *p;
    return v;
}
#define load_u64_acquire load_u64
static uint64_t add_u64(volatile uint64_t *p, uint64_t v)
{
    uint64_t r;
#pragma omp critical(fastki_atomic)
    r = *p += v;
    return r;
}
#define add_u64_release add_u64
static void store_u64(volatile uint64_t *p, uint64_t v)
{
#pragma omp critical(fastki_atomic)
    *p = v;
}
#define store_u64_release store_u64
static int cas_u64(volatile uint64_t *p, uint64_t *expected, uint64_t desired)
{
    int ok;
#pragma omp critical(fastki_atomic)
    {
        ok = *p == *expected;
        if (ok) *p = desired;
        else *expected = *p;
    }
    return ok;
}
#define FASTKI_TLS
#endif

/* The thread settings. The kernel reads no environment variable: fastki/_settings.py, the one
 * reader of every FASTKI_* variable and of the CPU quota, hands them in through
 * fastki_configure; C programs that never call it get the build's defaults. Each is one
 * word, so a fill reads either the old or the new value of each, never a torn one. */
static volatile uint64_t setting_chunk_groups = FASTKI_CHUNK_GROUPS;
static volatile uint64_t setting_streaming = 0; /* streaming + 1: 0 auto, 1 off, 2 on */
static volatile uint64_t setting_cpu_limit = 0; /* 0: no limit */
static volatile uint64_t setting_load_signal = 1;

int fastki_configure(const fastki_thread_config *c)
{
    if (c->chunk_groups < 1 || c->chunk_groups > FASTKI_CHUNK_GROUPS_MAX || c->streaming < -1 ||
        c->streaming > 1 || c->cpu_limit < 0 || (c->load_signal != 0 && c->load_signal != 1))
        return FASTKI_E_BAD_ARGUMENT;
    store_u64(&setting_chunk_groups, c->chunk_groups);
    store_u64(&setting_streaming, (uint64_t)(c->streaming + 1));
    store_u64(&setting_cpu_limit, (uint64_t)c->cpu_limit);
    store_u64(&setting_load_signal, (uint64_t)c->load_signal);
    return FASTKI_OK;
}

void fastki_thread_settings(fastki_thread_config *out)
{
    out->chunk_groups = load_u64(&setting_chunk_groups);
    out->streaming = (int)load_u64(&setting_streaming) - 1;
    out->cpu_limit = (int)load_u64(&setting_cpu_limit);
    out->load_signal = (int)load_u64(&setting_load_signal);
}

int fastki_thread_budget(void)
{
    int budget = fastki_max_threads(), limit = (int)load_u64(&setting_cpu_limit);
    if (limit > 0 && limit < budget) budget = limit;
    return budget < 1 ? 1 : budget;
}

/* Relative cost of one element, uniform float32 = 1 (measured on the AVX2/AVX-512 paths). */
static uint64_t element_cost(fastki_dist dist, fastki_dtype dtype)
{
    static const uint8_t cost[3][2] = {{1, 2}, {2, 5}, {4, 10}}; /* [dist][dtype] */
    if (dist == FASTKI_RAW_WORDS) return 1; /* 0.8 words per uniform float32 element */
    return (unsigned)dist < 3u && (unsigned)dtype < 2u ? cost[dist][dtype] : 1u;
}

int fastki_thread_count(int requested, uint64_t work)
{
    if (in_forked_child()) return 1; /* see the fork marker */
#ifdef _OPENMP
    /* Inside someone's OpenMP region, a default fill stays on its thread: that region's team
     * already holds the cores. */
    if (requested <= 0 && omp_in_parallel()) return 1;
#endif
    uint64_t threads = requested > 0 ? (uint64_t)requested : (uint64_t)fastki_thread_budget();
    uint64_t useful = work / FASTKI_MIN_WORK_PER_THREAD;
    if (threads > useful) threads = useful;
    if (threads > FASTKI_MAX_HELPERS + 1) threads = FASTKI_MAX_HELPERS + 1;
    return threads < 1 ? 1 : (int)threads;
}

static FASTKI_TLS fastki_fill_report last_report;

void fastki_last_fill(fastki_fill_report *out) { *out = last_report; }

uint64_t fastki_elements_per_group(fastki_dtype dtype)
{
    return dtype == FASTKI_FLOAT32 ? F32_PER_GROUP : F64_PER_GROUP;
}

#if defined(FASTKI_POOL) || defined(_OPENMP) /* else every fill runs on its calling thread */
/* One fill's work, shared by the threads that run it. Work is handed out in pieces claimed
 * from the counter `next`; `done` counts the elements written. The calling thread claims
 * pieces too and returns once done == count: it never waits for a thread that has not turned
 * up, only for pieces already claimed. Pieces shrink towards the end (claim_piece), so a
 * thread that loses its core while holding one keeps the fill waiting for little. */
typedef struct {
    fastki_request req;
    fill_range_fn fill;
    uint64_t first, count, per_group, max_len, min_len;
    char *out;
    size_t item;
    int streaming, team;
    volatile uint64_t next, done, pieces;
#ifdef FASTKI_POOL
    volatile uint64_t refs; /* the threads that may still read this job; the last frees it */
    pthread_mutex_t lock;
    pthread_cond_t finished;
#endif
} fill_job;

/* Claims the next piece [*lo, *hi) of offsets 0 .. count - 1: (what is left) / (2 x team),
 * but at most max_len and at least min_len elements; its end moved up to the next group
 * boundary in absolute element index. 0: nothing left. */
static int claim_piece(fill_job *j, uint64_t *lo, uint64_t *hi)
{
    uint64_t start = load_u64(&j->next), end;
    do {
        if (start >= j->count) return 0;
        uint64_t left = j->count - start, len = left / (2 * (uint64_t)j->team);
        if (len > j->max_len) len = j->max_len;
        if (len < j->min_len) len = j->min_len;
        if (len >= left) {
            end = j->count;
        } else {
            end = start + len;
            uint64_t rem = (j->first % j->per_group + end % j->per_group) % j->per_group;
            if (rem) end = j->count - end <= j->per_group - rem ? j->count : end + (j->per_group - rem);
        }
    } while (!cas_u64(&j->next, &start, end));
    *lo = start;
    *hi = end;
    return 1;
}

/* Runs pieces until none is left; returns how many this thread ran. */
static uint64_t run_pieces(fill_job *j)
{
    uint64_t lo, hi, mine = 0;
    while (claim_piece(j, &lo, &hi)) {
        add_u64(&j->pieces, 1); /* counted before the piece is: complete once done == count */
        j->fill(&j->req, j->first + lo, hi - lo, j->out + (size_t)lo * j->item, j->streaming);
        mine++;
#ifdef FASTKI_POOL
        if (add_u64_release(&j->done, hi - lo) == j->count) { /* the last piece: wake the caller */
            pthread_mutex_lock(&j->lock);
            pthread_cond_signal(&j->finished);
            pthread_mutex_unlock(&j->lock);
        }
#endif
    }
    return mine;
}
#endif

#ifdef FASTKI_POOL
/* The helpers: threads of fastki's own, started on demand (at most FASTKI_MAX_HELPERS, never
 * ended; a forked child starts none, see the fork marker) with every signal blocked. A helper
 * is idle, or assigned one job: a fill recruits only idle helpers, so a helper that has not
 * yet turned up for an earlier fill (its core taken by another process) is not counted on
 * again until it has, and fills running at once share the helpers between them: that is the
 * whole sharing rule. A helper that turns up after its fill is done finds no piece left,
 * lets go of the job and is idle again. */
typedef struct {
    volatile uint64_t job;      /* the assigned fill_job, 0: none */
    volatile uint64_t assigned; /* 1 from recruitment until the helper lets go of its job */
    pthread_mutex_t lock;
    pthread_cond_t wake;
} helper;

static helper helpers[FASTKI_MAX_HELPERS];
static volatile uint64_t helpers_started = 0;
static volatile uint64_t helpers_awake = 0; /* helpers not asleep: working or polling */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t debug_hold = 0; /* fastki_debug.h: helpers wait before claiming */

static void leave_job(fill_job *j)
{
    if (add_u64_release(&j->refs, (uint64_t)0 - 1) == 0) {
        pthread_mutex_destroy(&j->lock);
        pthread_cond_destroy(&j->finished);
        free(j);
    }
}

/* About 10-50 us of polling before a thread sleeps: long enough for the next slice of a long
 * fill (fastki/_native.pyx hands the kernel a few milliseconds at a time) or the next fill of
 * a loop to find its helpers awake, short enough to give a busy machine its core back. */
#define SPIN_POLLS 2000
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *helper_main(void *arg)
{
    helper *h = arg;
    add_u64(&helpers_awake, 1);
    for (;;) {
        uint64_t jp = 0;
        for (int i = 0; i < SPIN_POLLS && !(jp = load_u64_acquire(&h->job)); i++) cpu_relax();
        if (!jp) {
            add_u64(&helpers_awake, (uint64_t)0 - 1);
            pthread_mutex_lock(&h->lock);
            while (!(jp = load_u64_acquire(&h->job))) pthread_cond_wait(&h->wake, &h->lock);
            pthread_mutex_unlock(&h->lock);
            add_u64(&helpers_awake, 1);
        }
        store_u64(&h->job, 0);
        while (load_u64_acquire(&debug_hold)) cpu_relax();
        fill_job *j = (fill_job *)(uintptr_t)jp;
        run_pieces(j);
        leave_job(j);
        add_u64_release(&h->assigned, (uint64_t)0 - 1); /* idle again */
    }
    return NULL;
}

/* Starts helpers until `want` exist (or as many as could be started); returns how many exist. */
static int start_helpers(int want)
{
    if ((int)load_u64(&helpers_started) >= want) return want;
    pthread_mutex_lock(&start_lock);
    int n = (int)load_u64(&helpers_started);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited: signals stay with the caller */
    for (; n < want; n++) {
        helper *h = &helpers[n];
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_mutex_init(&h->lock, NULL) || pthread_cond_init(&h->wake, NULL)) break;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, helper_main, h);
        pthread_attr_destroy(&attr);
        if (rc) break;
        store_u64(&helpers_started, (uint64_t)n + 1);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_unlock(&start_lock);
    return n;
}

/* Hands j to up to `extra` idle helpers, started if fewer than `extra` exist (so default
 * fills never hold more helpers than the budget less one); returns how many took it. */
static int recruit(fill_job *j, int extra)
{
    int have = start_helpers(extra), got = 0;
    if ((int)load_u64(&helpers_started) > have) have = (int)load_u64(&helpers_started);
    for (int i = 0; i < have && got < extra; i++) {
        helper *h = &helpers[i];
        uint64_t idle = 0;
        if (load_u64(&h->assigned) || !cas_u64(&h->assigned, &idle, 1)) continue;
        add_u64(&j->refs, 1);
        pthread_mutex_lock(&h->lock);
        store_u64_release(&h->job, (uint64_t)(uintptr_t)j);
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        got++;
    }
    return got;
}

/* The load signal (Linux): CPUs free for helpers now, from the count of runnable threads in
 * /proc/loadavg (its fourth field, "running/total"), less the calling thread and fastki's own
 * helpers that are awake. On a machine full of other work, a helper that is woken takes the
 * core of the thread that woke it, or waits for one, and the fill waits for it: measured on 2
 * cores with 2 and 5 busy processes, default fills of 2**20 normal float32 took 2-4x the time
 * of one thread without this signal (docs/benchmarks.md, "Threads on a loaded machine"). A
 * sample costs a few microseconds (open, read, close) and serves every fill for the next
 * LOAD_SAMPLE_NS; racing fills may both sample, and store values equally good. */
#ifdef __linux__
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#define LOAD_SAMPLE_NS UINT64_C(2000000)
#define LOAD_BIAS 1000000 /* load_free holds free CPUs + LOAD_BIAS: it may be negative */
static volatile uint64_t load_sampled_at = 0, load_free = 0;

static int free_cpus(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts)) return FASTKI_MAX_HELPERS;
    uint64_t now = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec + 1;
    uint64_t at = load_u64(&load_sampled_at);
    if (at && now - at < LOAD_SAMPLE_NS) return (int)((int64_t)load_u64(&load_free) - LOAD_BIAS);
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY);
    if (fd < 0) return FASTKI_MAX_HELPERS; /* no signal: as if the machine were idle */
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) return FASTKI_MAX_HELPERS;
    buf[len] = 0;
    const char *p = buf;
    for (int field = 0; field < 3 && p; field++) { /* three load averages, then running/total */
        p = strchr(p, ' ');
        if (p) p++;
    }
    if (!p || *p < '0' || *p > '9') return FASTKI_MAX_HELPERS;
    int64_t running = 0;
    while (*p >= '0' && *p <= '9' && running < 1000000) running = running * 10 + (*p++ - '0');
    int64_t others = running - 1 - (int64_t)load_u64(&helpers_awake);
    if (others < 0) others = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t free = (cpus > 0 ? cpus : 1) - 1 - others;
    if (free > FASTKI_MAX_HELPERS) free = FASTKI_MAX_HELPERS;
    store_u64(&load_free, (uint64_t)(free + LOAD_BIAS));
    store_u64(&load_sampled_at, now);
    return (int)free;
}
#else
static int free_cpus(void) { return FASTKI_MAX_HELPERS; }
#endif

static void run_job(fill_job *j, int want, fastki_fill_report *rep)
{
    j->refs = 1; /* the calling thread's */
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->finished, NULL);
    j->team = want; /* the pieces' sizes follow the team asked for */
    rep->threads = 1 + recruit(j, want - 1);
    rep->caller_pieces = run_pieces(j);
    if (load_u64_acquire(&j->done) != j->count) {
        for (int i = 0; i < SPIN_POLLS && load_u64_acquire(&j->done) != j->count; i++) cpu_relax();
        pthread_mutex_lock(&j->lock);
        while (load_u64_acquire(&j->done) != j->count) pthread_cond_wait(&j->finished, &j->lock);
        pthread_mutex_unlock(&j->lock);
    }
    rep->pieces = load_u64(&j->pieces);
    leave_job(j);
}

void fastki_debug_hold_helpers(int hold) { store_u64(&debug_hold, hold ? 1 : 0); }
int fastki_debug_helpers_started(void) { return (int)load_u64(&helpers_started); }

int fastki_idle_helpers(void)
{
    int n = (int)load_u64(&helpers_started), idle = 0;
    for (int i = 0; i < n; i++) idle += load_u64(&helpers[i].assigned) == 0;
    return idle;
}
#elif defined(_OPENMP)
/* Without POSIX threads (Windows): an OpenMP team runs the same pieces; its closing barrier
 * waits for every team thread, scheduled or not. */
static void run_job(fill_job *j, int want, fastki_fill_report *rep)
{
    uint64_t caller = 0;
    int team = 1;
    j->team = want;
#pragma omp parallel num_threads(want)
    {
        uint64_t mine = run_pieces(j);
        if (omp_get_thread_num() == 0) {
            team = omp_get_num_threads();
            caller = mine;
        }
    }
    rep->threads = team;
    rep->caller_pieces = caller;
    rep->pieces = load_u64(&j->pieces);
}

void fastki_debug_hold_helpers(int hold) { (void)hold; }
int fastki_debug_helpers_started(void) { return 0; }
int fastki_idle_helpers(void) { return 0; }
#else
void fastki_debug_hold_helpers(int hold) { (void)hold; }
int fastki_debug_helpers_started(void) { return 0; }
int fastki_idle_helpers(void) { return 0; }
#endif

int fastki_fill(const fastki_request *req, uint64_t first, uint64_t count, void *out)
{
    const int raw = req->dist == FASTKI_RAW_WORDS;
    if (!raw && req->dtype != FASTKI_FLOAT32 && req->dtype != FASTKI_FLOAT64) return FASTKI_E_BAD_ARGUMENT;
    if (req->dist != FASTKI_UNIFORM && req->dist != FASTKI_NORMAL &&
        req->dist != FASTKI_TRUNCATED_NORMAL && !raw)
        return FASTKI_E_BAD_ARGUMENT;
    int simd = req->simd == FASTKI_SIMD_AUTO ? fastki_simd_best() : req->simd;
    fill_range_fn fill = path_function(simd);
    if (!fill) return FASTKI_E_SIMD_UNAVAILABLE;
    if (count == 0) return FASTKI_OK;
    uint64_t cost = element_cost(req->dist, req->dtype);
    uint64_t work = count > UINT64_MAX / cost ? UINT64_MAX : count * cost;
    int want = fastki_thread_count(req->num_threads, work);
    const size_t item = raw || req->dtype == FASTKI_FLOAT32 ? 4 : 8;
    const int streaming_setting = (int)load_u64(&setting_streaming) - 1;
    const int streaming =
        streaming_setting < 0 ? count >= FASTKI_STREAM_MIN_BYTES / item : streaming_setting;
    fastki_fill_report rep = {0};
    rep.threads = 1;
    rep.want = want;
    rep.budget = fastki_thread_budget();
    rep.pieces = 1;
    rep.caller_pieces = 1;
    rep.free_cpus = -1;
#ifdef FASTKI_POOL
    /* a default fill takes no more helpers than there are free CPUs (the load signal) */
    if (want > 1 && req->num_threads <= 0 && load_u64(&setting_load_signal)) {
        int free = free_cpus();
        rep.free_cpus = free < 0 ? 0 : free;
        if (want - 1 > rep.free_cpus) want = rep.free_cpus + 1;
    }
#endif
#if defined(FASTKI_POOL) || defined(_OPENMP)
    if (want > 1) {
        const uint64_t per_group = raw ? RAW_PER_GROUP : fastki_elements_per_group(req->dtype);
        uint64_t max_groups = load_u64(&setting_chunk_groups);
        uint64_t min_groups = max_groups < FASTKI_MIN_CHUNK_GROUPS ? max_groups : FASTKI_MIN_CHUNK_GROUPS;
#ifdef FASTKI_POOL
        fill_job *j = malloc(sizeof *j);
#else
        fill_job job_on_stack, *j = &job_on_stack;
#endif
        if (j) {
            memset(j, 0, sizeof *j);
            j->req = *req;
            j->fill = fill;
            j->first = first;
            j->count = count;
            j->per_group = per_group;
            j->max_len = max_groups * per_group;
            j->min_len = min_groups * per_group;
            j->out = out;
            j->item = item;
            j->streaming = streaming;
            run_job(j, want, &rep); /* frees j (pool) */
            last_report = rep;
            return FASTKI_OK;
        }
    }
#endif
    fill(req, first, count, out, streaming);
    last_report = rep;
    return FASTKI_OK;
}

void fastki_random_raw(uint64_t seed, uint64_t stream, uint64_t offset, uint64_t n, uint32_t *out)
{
    fastki_request req;
    memset(&req, 0, sizeof req);
    req.dist = FASTKI_RAW_WORDS;
    req.seed = seed;
    req.stream = stream;
    req.simd = FASTKI_SIMD_AUTO;
    (void)fastki_fill(&req, offset, n, out); /* cannot fail: AUTO always finds a path */
}

void fastki_philox4x32_10(const uint32_t *counters, const uint32_t *keys, uint32_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        philox_ctr c;
        philox_key k;
        memcpy(c.v, counters + 4 * i, sizeof c.v);
        memcpy(k.v, keys + 2 * i, sizeof k.v);
        c = philox4x32_10(c, k);
        memcpy(out + 4 * i, c.v, sizeof c.v);
    }
}
