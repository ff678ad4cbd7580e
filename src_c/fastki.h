/* fastki's C API: fills caller-given buffers with the values docs/algorithm.md specifies.
 * Knows nothing of Python; safe to call from many threads. Its global state (a fork marker,
 * settings read once, a count of fills in flight) decides thread counts, never a value. */
#ifndef FASTKI_H
#define FASTKI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FASTKI_UNIFORM = 0, FASTKI_NORMAL = 1, FASTKI_TRUNCATED_NORMAL = 2 } fastki_dist;
typedef enum { FASTKI_FLOAT32 = 0, FASTKI_FLOAT64 = 1 } fastki_dtype;

/* SIMD paths, in order of preference; FASTKI_SIMD_AUTO picks the best this CPU runs. */
typedef enum {
    FASTKI_SIMD_AUTO = -1,
    FASTKI_SIMD_SCALAR = 0,
    FASTKI_SIMD_SSE2 = 1,
    FASTKI_SIMD_AVX2 = 2,
    FASTKI_SIMD_AVX512 = 3,
    FASTKI_SIMD_NEON = 4, /* AArch64 Advanced SIMD */
    FASTKI_SIMD_COUNT = 5
} fastki_simd;

/* Distribution parameters, already rounded to the output dtype by the caller
 * (docs/algorithm.md, "Parameters"). Unused fields are ignored. */
typedef struct {
    double loc;       /* uniform: minval; normal, truncated normal: mean */
    double scale;     /* uniform: maxval - minval; normal, truncated normal: stddev */
    double value_min; /* truncated normal: smallest value returned */
    double value_max; /* uniform, truncated normal: largest value returned */
    double p_low;     /* truncated normal: Phi(lower) of the (possibly mirrored) interval */
    double p_width;   /* truncated normal: Phi(upper) - Phi(lower) */
    int mirror;       /* truncated normal: sample the mirrored interval and negate */
} fastki_params;

typedef struct {
    fastki_dist dist;
    fastki_dtype dtype;
    uint64_t seed;
    uint64_t stream;
    fastki_params params;
    int simd;        /* a fastki_simd value */
    int num_threads; /* 0: OpenMP's default (OMP_NUM_THREADS, threadpoolctl) */
} fastki_request;

/* Error codes. */
#define FASTKI_OK 0
#define FASTKI_E_SIMD_UNAVAILABLE (-1)
#define FASTKI_E_BAD_ARGUMENT (-2)

/* Elements first .. first + count - 1 of the request's tensor into out (count elements of
 * the request's dtype). first + count must not exceed 2**64. */
int fastki_fill(const fastki_request *req, uint64_t first, uint64_t count, void *out);

/* Words offset .. offset + n - 1 of the stream (seed, stream). */
void fastki_random_raw(uint64_t seed, uint64_t stream, uint64_t offset, uint64_t n, uint32_t *out);

/* n independent Philox4x32-10 evaluations: counters (n, 4), keys (n, 2) -> out (n, 4). */
void fastki_philox4x32_10(const uint32_t *counters, const uint32_t *keys, uint32_t *out, size_t n);

/* The path FASTKI_SIMD_AUTO resolves to, and whether a path is compiled in and runs here. */
int fastki_simd_best(void);
int fastki_simd_available(int simd);
const char *fastki_simd_name(int simd);

/* The threads a fill wants: requested, a positive count, or 0 for OpenMP's default
 * (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl); work: elements weighted by their
 * cost, in uniform-float32 elements. Small fills, fills in a forked child and default fills
 * inside an OpenMP region stay on the calling thread. A default fill then shares what it
 * wants with the fills in flight (fastki_share_threads below): together the two are the
 * thread rule, which fastki_fill applies. */
int fastki_thread_count(int requested, uint64_t work);
int fastki_openmp_enabled(void);
int fastki_max_threads(void);

/* How a multi-threaded fill hands out its elements (FASTKI_SCHEDULE). */
#define FASTKI_SCHEDULE_STATIC 0  /* one even part per thread */
#define FASTKI_SCHEDULE_DYNAMIC 1 /* chunks of chunk_groups groups, claimed one at a time */
#define FASTKI_SCHEDULE_GUIDED 2  /* claims of (what is left) / (2 x threads), at least a chunk */

/* Environment variables that held a value fastki does not know (then ignored). */
#define FASTKI_INVALID_SCHEDULE 1
#define FASTKI_INVALID_CHUNK_GROUPS 2
#define FASTKI_INVALID_STREAMING 4
#define FASTKI_INVALID_SHARE_THREADS 8

/* The split settings, from the environment (read once) or the build's defaults:
 * FASTKI_SCHEDULE=static|dynamic|guided, FASTKI_CHUNK_GROUPS=1..2**24,
 * FASTKI_STREAMING=auto|on|off, FASTKI_SHARE_THREADS=1|0. None changes a value. */
typedef struct {
    int schedule;          /* FASTKI_SCHEDULE_* */
    uint64_t chunk_groups; /* groups per chunk (dynamic), the smallest claim (guided) */
    int streaming;         /* -1: streaming stores from 32 MiB per call on; 0: never; 1: always */
    int share;             /* 1: default fills share the thread budget (fastki_share_threads) */
    int invalid;           /* FASTKI_INVALID_* bits */
} fastki_thread_config;
const fastki_thread_config *fastki_thread_settings(void);

/* The sharing rule for a fill with no explicit thread count (num_threads 0): with `fills`
 * multi-threaded fills in flight in the process (this one included), whose others hold
 * `others` threads beyond their calling threads, and a budget of omp_get_max_threads(), a fill
 * that would use `want` threads uses max(1, min(want, budget / fills, budget - fills - others + 1)).
 * fastki_fill passes as `others` those extra threads plus the recent callers: other threads
 * whose last multi-threaded fill ended less than 50 ms ago (src_c/dispatch.c, "Recent
 * callers"). Alone, a fill keeps all `want` threads. */
int fastki_share_threads(int want, int budget, int64_t fills, int64_t others);

/* What the calling thread's last fastki_fill of at least one element did (for tests). */
typedef struct {
    int threads;     /* OpenMP threads it ran on (1: the calling thread alone) */
    int want;        /* fastki_thread_count's answer */
    int budget;      /* omp_get_max_threads() when it claimed threads (0: it did not) */
    int shared;      /* 1: the sharing rule applied */
    int64_t fills;   /* multi-threaded fills in flight when it claimed, itself included */
    int64_t others;  /* extra threads the other fills held then */
    int64_t recent;  /* recent callers then: other threads between two of their fills */
    int schedule;    /* FASTKI_SCHEDULE_* */
    uint64_t pieces; /* pieces the range was cut into */
} fastki_fill_report;
void fastki_last_fill(fastki_fill_report *out);
/* Multi-threaded fills in flight now, and the extra threads they hold. */
void fastki_threads_in_flight(int64_t *fills, int64_t *extra);
/* Tests only: count `fills` pretend fills holding `extra` threads in (negative: out again). */
void fastki_debug_occupy(int64_t fills, int64_t extra);
/* Tests only: forget every recent caller (src_c/dispatch.c, "Recent callers"). */
void fastki_debug_forget_recent(void);

/* Elements per group: a fill is cut only at multiples of this (docs/algorithm.md). */
uint64_t fastki_elements_per_group(fastki_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif
