/* The one place that knows the CPU, picks a SIMD path and decides how many threads a fill
 * uses. CPU features are read from the compiler runtime on each call. Mutable state, none of
 * which can change a value: the fork marker below, set once in a forked child and never
 * cleared; the split settings, read from the environment once; and the count of fills in
 * flight with the threads they hold (in_flight, "threads" below). */
#include "fastki.h"

#include <stdlib.h>
#include <string.h>

#if defined(_OPENMP) && (defined(__unix__) || defined(__APPLE__)) && defined(__GNUC__)
#include <pthread.h>
#define FASTKI_FORK_GUARD 1
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "approx.h"
#include "philox.h"

/* Waking an OpenMP team costs about 1-2 us; a thread pays off once its share of the work
 * takes about 4 us. Work is counted in "uniform float32 elements" (about 0.5 ns each on one
 * AVX2/AVX-512 core); element_cost() weighs the other fills. Measured with a C harness over
 * 2**10..2**17 elements, one vs two threads: uniform float32 breaks even near 4096
 * elements, normal float32 near 2048, truncated normal float32 near 1024. */
/* Outputs at least this large are written with streaming stores: about the last-level cache
 * of the machines we measured (32 MiB), beyond which the output cannot stay cached anyway.
 * FASTKI_STREAMING=on/off overrides it (see fastki_thread_settings below). */
#ifndef FASTKI_STREAM_MIN_BYTES
#define FASTKI_STREAM_MIN_BYTES (UINT64_C(32) << 20)
#endif

#ifndef FASTKI_MIN_WORK_PER_THREAD
#define FASTKI_MIN_WORK_PER_THREAD UINT64_C(8192)
#endif

/* How a multi-threaded fill hands out its elements (FASTKI_SCHEDULE; docs/benchmarks.md,
 * "Threads on a busy machine"). The default is dynamic: a thread that loses its core to
 * another process holds back at most one chunk, where an even static split makes the whole
 * fill wait for that thread's half. */
#ifndef FASTKI_SCHEDULE_DEFAULT
#define FASTKI_SCHEDULE_DEFAULT FASTKI_SCHEDULE_DYNAMIC
#endif

/* Groups per chunk (FASTKI_CHUNK_GROUPS). 256 groups are 20480 float32 or 8192 float64
 * elements (80 or 64 KiB), 10-40 us of work on one core: a claim, one atomic operation on a
 * shared counter, costs well under 1% of that, and one chunk is under 1% of the slice that
 * fastki/_native.pyx hands to fastki_fill at a time (SLICE_ELEMENTS), so the threads finish
 * within one chunk of each other. Chosen by this arithmetic, not measured; `python -m fastki
 * bench --busy --splits` times the alternatives. */
#ifndef FASTKI_CHUNK_GROUPS
#define FASTKI_CHUNK_GROUPS 256
#endif
#define FASTKI_CHUNK_GROUPS_MAX 16777216 /* 2**24: keeps chunk lengths far from overflow */

/* Whether default fills share the thread budget with the other fills in flight
 * (FASTKI_SHARE_THREADS; fastki_share_threads below). */
#ifndef FASTKI_SHARE_THREADS_DEFAULT
#define FASTKI_SHARE_THREADS_DEFAULT 1
#endif

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
/* fork() and OpenMP: GNU libgomp keeps its thread team after a parallel region; a child forked
 * from a process whose team exists inherits the team's bookkeeping but none of its threads,
 * and its next parallel region waits for them forever (reproduced by
 * tests/test_hardening_fork.py: a child hangs after the parent filled with 2 threads).
 * The team may also belong to another library sharing the same libgomp, so whether *fastki*
 * used threads before the fork decides nothing. Hence: every process forked after this
 * library was loaded fills on its calling thread only; values are unchanged (the contract
 * does not depend on the thread count). This marker is the kernel's one piece of mutable
 * global state: written once, 0 -> 1, by the atfork child handler (the child then has a single
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
 * absolute element index (80 float32 / 32 float64 elements: 320 / 256 bytes, a multiple of
 * every vector width, so each piece starts at the alignment the whole output has). */

/* Atomic operations on 64-bit counters, relaxed: the counters only steer decisions, and the
 * elements written inside an OpenMP region are ordered by the region's closing barrier. */
#if defined(__GNUC__) || defined(__clang__)
static inline uint64_t load_u64(volatile uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline uint64_t add_u64(volatile uint64_t *p, uint64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static inline int cas_u64(volatile uint64_t *p, uint64_t *expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}
#define FASTKI_TLS __thread
#elif defined(_MSC_VER)
#include <intrin.h>
static __inline uint64_t load_u64(volatile uint64_t *p)
{
    return (uint64_t)_InterlockedCompareExchange64((volatile __int64 *)p, 0, 0);
}
static __inline uint64_t add_u64(volatile uint64_t *p, uint64_t v)
{
    return (uint64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v) + v;
}
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
static uint64_t add_u64(volatile uint64_t *p, uint64_t v)
{
    uint64_t r;
#pragma omp critical(fastki_atomic)
    r = *p += v;
    return r;
}
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

/* The split settings, read from the environment once: when the library is loaded (GCC,
 * Clang), else at the first fill (racing first fills compute and store the same values). */
static fastki_thread_config settings;
static volatile int settings_ready = 0;

static int parse_choice(const char *value, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 1;
        }
    return 0;
}

static void read_settings(void)
{
    static const char *const schedules[] = {"static", "dynamic", "guided"};
    static const char *const streaming[] = {"off", "on", "auto"};
    static const char *const share[] = {"0", "1"};
    fastki_thread_config c = {FASTKI_SCHEDULE_DEFAULT, FASTKI_CHUNK_GROUPS, -1,
                              FASTKI_SHARE_THREADS_DEFAULT, 0};
    const char *s = getenv("FASTKI_SCHEDULE");
    if (s && *s && !parse_choice(s, schedules, 3, &c.schedule)) c.invalid |= FASTKI_INVALID_SCHEDULE;
    s = getenv("FASTKI_CHUNK_GROUPS");
    if (s && *s) {
        uint64_t v = 0;
        const char *p = s;
        while (*p >= '0' && *p <= '9' && v <= FASTKI_CHUNK_GROUPS_MAX) v = v * 10 + (uint64_t)(*p++ - '0');
        if (*p || v < 1 || v > FASTKI_CHUNK_GROUPS_MAX)
            c.invalid |= FASTKI_INVALID_CHUNK_GROUPS;
        else
            c.chunk_groups = v;
    }
    s = getenv("FASTKI_STREAMING");
    if (s && *s) {
        int k;
        if (parse_choice(s, streaming, 3, &k)) c.streaming = k == 2 ? -1 : k;
        else c.invalid |= FASTKI_INVALID_STREAMING;
    }
    s = getenv("FASTKI_SHARE_THREADS");
    if (s && *s && !parse_choice(s, share, 2, &c.share)) c.invalid |= FASTKI_INVALID_SHARE_THREADS;
    settings = c;
    settings_ready = 1;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void read_settings_at_load(void) { read_settings(); }
#endif

const fastki_thread_config *fastki_thread_settings(void)
{
    if (!settings_ready) read_settings();
    return &settings;
}

/* Relative cost of one element, uniform float32 = 1 (measured on the AVX2/AVX-512 paths). */
static uint64_t element_cost(fastki_dist dist, fastki_dtype dtype)
{
    static const uint8_t cost[3][2] = {{1, 2}, {2, 5}, {4, 10}}; /* [dist][dtype] */
    return (unsigned)dist < 3u && (unsigned)dtype < 2u ? cost[dist][dtype] : 1u;
}

int fastki_thread_count(int requested, uint64_t work)
{
    if (!fastki_openmp_enabled() || in_forked_child()) return 1; /* see the fork marker */
#ifdef _OPENMP
    /* Inside someone's OpenMP region, a default fill stays on its thread: that region's team
     * already holds the cores (and libgomp would give a nested region one thread anyway). */
    if (requested <= 0 && omp_in_parallel()) return 1;
#endif
    uint64_t threads = requested > 0 ? (uint64_t)requested : (uint64_t)fastki_max_threads();
    uint64_t useful = work / FASTKI_MIN_WORK_PER_THREAD;
    if (threads > useful) threads = useful;
    return threads < 1 ? 1 : (int)threads;
}

/* The sharing rule, the one place it is written (docs/dask.md, "Threads"). */
int fastki_share_threads(int want, int budget, int64_t fills, int64_t others)
{
    int64_t take = want;
    if (fills < 1) fills = 1;
    if (budget < 1) budget = 1;
    if (take > budget / fills) take = budget / fills;
    if (take > budget - fills - others + 1) take = budget - fills - others + 1;
    return take < 1 ? 1 : (int)take;
}

/* Multi-threaded fills in flight in this process (high 32 bits) and the extra threads, beyond
 * each fill's calling thread, that they hold (low 32 bits), in one word so that a fill counts
 * itself in and claims its threads in one atomic step. Mutable global state that steers only
 * thread counts, never a value (docs/hardening.md, "Threads"). */
static volatile uint64_t in_flight = 0;
#define FLIGHT_ONE (UINT64_C(1) << 32)
#define EXTRA_MAX 65535 /* a fill's extra threads as counted here, so the low half cannot carry */

static FASTKI_TLS fastki_fill_report last_report;

#ifdef _OPENMP
/* Recent callers: threads whose last multi-threaded fill ended less than RECENT_WINDOW_US ago
 * and that are not filling now. A thread of a pool that alternates fills with other work
 * (Dask's threaded scheduler copies each chunk into place between fills) holds a core between
 * its fills; a fill that started then and took every thread would wait at its closing barrier
 * for a thread preempted by that work. So the sharing rule counts recent callers like the extra
 * threads of fills in flight (docs/dask.md, "Threads"). Each calling thread owns one slot,
 * given out in turn; with more than RECENT_SLOTS callers two threads may share one, which only
 * makes the count lower. A slot holds the time its thread's last such fill ended, in
 * microseconds plus one (0: never, or filling now). Only thread counts depend on it. */
#define RECENT_SLOTS 64
#define RECENT_WINDOW_US 50000
static volatile uint64_t recent_end_us[RECENT_SLOTS];
static volatile uint64_t recent_slots_given = 0;
static FASTKI_TLS int recent_slot = -1;

static uint64_t now_us(void) { return (uint64_t)(omp_get_wtime() * 1e6) + 1; }

static void store_u64(volatile uint64_t *p, uint64_t v)
{
    uint64_t old = load_u64(p);
    while (!cas_u64(p, &old, v)) {
    }
}

static int my_recent_slot(void)
{
    if (recent_slot < 0) recent_slot = (int)((add_u64(&recent_slots_given, 1) - 1) % RECENT_SLOTS);
    return recent_slot;
}

static int64_t count_recent_callers(int mine, uint64_t now)
{
    int64_t n = 0;
    for (int s = 0; s < RECENT_SLOTS; s++) {
        uint64_t end = load_u64(&recent_end_us[s]);
        if (s != mine && end && (end > now || now - end < RECENT_WINDOW_US)) n++;
    }
    return n;
}

static int claim_threads(int want, int shared, fastki_fill_report *rep)
{
    int budget = fastki_max_threads(), take, mine = my_recent_slot();
    store_u64(&recent_end_us[mine], 0); /* filling now: counted among the fills in flight */
    int64_t recent = shared ? count_recent_callers(mine, now_us()) : 0;
    uint64_t old = load_u64(&in_flight), next;
    do {
        int64_t fills = (int64_t)(old >> 32) + 1, others = (int64_t)(old & 0xFFFFFFFFu);
        take = shared ? fastki_share_threads(want, budget, fills, others + recent) : want;
        rep->fills = fills;
        rep->others = others;
        next = old + FLIGHT_ONE + (uint64_t)(take - 1 < EXTRA_MAX ? take - 1 : EXTRA_MAX);
    } while (!cas_u64(&in_flight, &old, next));
    rep->recent = recent;
    rep->budget = budget;
    rep->shared = shared;
    return take;
}

static void release_threads(int take)
{
    add_u64(&in_flight, (uint64_t)0 - FLIGHT_ONE - (uint64_t)(take - 1 < EXTRA_MAX ? take - 1 : EXTRA_MAX));
    store_u64(&recent_end_us[my_recent_slot()], now_us());
}

#endif

void fastki_debug_forget_recent(void)
{
#ifdef _OPENMP
    for (int s = 0; s < RECENT_SLOTS; s++) store_u64(&recent_end_us[s], 0);
#endif
}

void fastki_threads_in_flight(int64_t *fills, int64_t *extra)
{
    uint64_t now = load_u64(&in_flight);
    *fills = (int64_t)(now >> 32);
    *extra = (int64_t)(now & 0xFFFFFFFFu);
}

void fastki_debug_occupy(int64_t fills, int64_t extra)
{
    add_u64(&in_flight, (uint64_t)fills * FLIGHT_ONE + (uint64_t)extra);
}

void fastki_last_fill(fastki_fill_report *out) { *out = last_report; }

uint64_t fastki_elements_per_group(fastki_dtype dtype)
{
    return dtype == FASTKI_FLOAT32 ? F32_PER_GROUP : F64_PER_GROUP;
}

#ifdef _OPENMP
/* Offset from first where part t of nparts starts: an even split, moved up to the next group
 * boundary (in absolute element index) so that no group is computed by two threads. */
static uint64_t split_offset(uint64_t first, uint64_t count, uint64_t per_group, int t, int nparts)
{
    if (t <= 0) return 0;
    if (t >= nparts) return count;
    uint64_t q = count / (uint64_t)nparts, r = count % (uint64_t)nparts;
    uint64_t off = q * (uint64_t)t + r * (uint64_t)t / (uint64_t)nparts;
    uint64_t rem = (first % per_group + off % per_group) % per_group;
    if (rem) off += per_group - rem;
    return off < count ? off : count;
}

/* Claims the next piece [*lo, *hi) of offsets 0 .. count - 1 from the shared counter *next:
 * at least min_len elements or, with divisor > 0, the larger (count - *lo) / divisor (guided);
 * its end moved up to the next group boundary in absolute element index. 0: nothing left. */
static int claim_piece(volatile uint64_t *next, uint64_t first, uint64_t count, uint64_t per_group,
                       uint64_t min_len, uint64_t divisor, uint64_t *lo, uint64_t *hi)
{
    uint64_t start = load_u64(next), end;
    do {
        if (start >= count) return 0;
        uint64_t left = count - start, len = min_len;
        if (divisor && left / divisor > len) len = left / divisor;
        if (len >= left) {
            end = count;
        } else {
            end = start + len;
            uint64_t rem = (first % per_group + end % per_group) % per_group;
            if (rem) end = count - end <= per_group - rem ? count : end + (per_group - rem);
        }
    } while (!cas_u64(next, &start, end));
    *lo = start;
    *hi = end;
    return 1;
}

#endif

int fastki_fill(const fastki_request *req, uint64_t first, uint64_t count, void *out)
{
    if (req->dtype != FASTKI_FLOAT32 && req->dtype != FASTKI_FLOAT64) return FASTKI_E_BAD_ARGUMENT;
    if (req->dist != FASTKI_UNIFORM && req->dist != FASTKI_NORMAL &&
        req->dist != FASTKI_TRUNCATED_NORMAL)
        return FASTKI_E_BAD_ARGUMENT;
    int simd = req->simd == FASTKI_SIMD_AUTO ? fastki_simd_best() : req->simd;
    fill_range_fn fill = path_function(simd);
    if (!fill) return FASTKI_E_SIMD_UNAVAILABLE;
    if (count == 0) return FASTKI_OK;
    const fastki_thread_config *cfg = fastki_thread_settings();
    uint64_t cost = element_cost(req->dist, req->dtype);
    uint64_t work = count > UINT64_MAX / cost ? UINT64_MAX : count * cost;
    int want = fastki_thread_count(req->num_threads, work);
    const size_t item = req->dtype == FASTKI_FLOAT32 ? 4 : 8;
    const int streaming =
        cfg->streaming < 0 ? count >= FASTKI_STREAM_MIN_BYTES / item : cfg->streaming;
    fastki_fill_report rep = {0};
    rep.threads = 1;
    rep.want = want;
    rep.schedule = cfg->schedule;
    rep.pieces = 1;
    if (want <= 1) {
        fill(req, first, count, out, streaming);
        last_report = rep;
        return FASTKI_OK;
    }
#ifdef _OPENMP
    const int threads = claim_threads(want, req->num_threads <= 0 && cfg->share, &rep);
    if (threads <= 1) { /* the sharing rule left this fill its calling thread only */
        fill(req, first, count, out, streaming);
        release_threads(threads);
        last_report = rep;
        return FASTKI_OK;
    }
    const uint64_t per_group = fastki_elements_per_group(req->dtype);
    const uint64_t chunk = cfg->chunk_groups * per_group;
    const int schedule = cfg->schedule;
    volatile uint64_t next = 0, pieces = 0;
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
        int nparts = omp_get_num_threads(), t = omp_get_thread_num();
        if (t == 0) team = nparts;
        if (schedule == FASTKI_SCHEDULE_STATIC) {
            uint64_t lo = split_offset(first, count, per_group, t, nparts);
            uint64_t hi = split_offset(first, count, per_group, t + 1, nparts);
            if (hi > lo) fill(req, first + lo, hi - lo, (char *)out + (size_t)lo * item, streaming);
        } else {
            uint64_t lo, hi, mine = 0;
            uint64_t divisor = schedule == FASTKI_SCHEDULE_GUIDED ? 2 * (uint64_t)nparts : 0;
            while (claim_piece(&next, first, count, per_group, chunk, divisor, &lo, &hi)) {
                fill(req, first + lo, hi - lo, (char *)out + (size_t)lo * item, streaming);
                mine++;
            }
            add_u64(&pieces, mine);
        }
    }
    release_threads(threads);
    rep.threads = team;
    rep.schedule = schedule;
    rep.pieces = schedule == FASTKI_SCHEDULE_STATIC ? (uint64_t)team : load_u64(&pieces);
#endif
    last_report = rep;
    return FASTKI_OK;
}

void fastki_random_raw(uint64_t seed, uint64_t stream, uint64_t offset, uint64_t n, uint32_t *out)
{
    uint64_t b = offset / 4;
    unsigned j = (unsigned)(offset % 4);
    while (n) {
        philox_ctr w = fastki_stream_block(seed, stream, b);
        for (; j < 4 && n; j++, n--) *out++ = w.v[j];
        j = 0;
        b++;
    }
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
