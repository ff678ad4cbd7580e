/* fastki's C API: fills caller-given buffers with the values docs/algorithm.md specifies.
 * Knows nothing of Python; safe to call from many threads. Its global state (src_c/dispatch.c,
 * "State") decides thread counts, never a value. */
#ifndef FASTKI_H
#define FASTKI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FASTKI_RAW_WORDS: the stream's 32-bit words themselves (fastki_random_raw); out holds
 * uint32_t, and the request's dtype and params are ignored. */
typedef enum {
    FASTKI_UNIFORM = 0,
    FASTKI_NORMAL = 1,
    FASTKI_TRUNCATED_NORMAL = 2,
    FASTKI_RAW_WORDS = 3
} fastki_dist;
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

/* Words offset .. offset + n - 1 of the stream (seed, stream): fastki_fill of a
 * FASTKI_RAW_WORDS request with OpenMP's default threads and the best SIMD path. */
void fastki_random_raw(uint64_t seed, uint64_t stream, uint64_t offset, uint64_t n, uint32_t *out);

/* n independent Philox4x32-10 evaluations: counters (n, 4), keys (n, 2) -> out (n, 4). */
void fastki_philox4x32_10(const uint32_t *counters, const uint32_t *keys, uint32_t *out, size_t n);

/* The path FASTKI_SIMD_AUTO resolves to, and whether a path is compiled in and runs here. */
int fastki_simd_best(void);
int fastki_simd_available(int simd);
const char *fastki_simd_name(int simd);

/* The thread budget: omp_get_max_threads() (the CPUs of the affinity mask, OMP_NUM_THREADS,
 * omp_set_num_threads, threadpoolctl), lowered to the CPU limit fastki_configure set. */
int fastki_thread_budget(void);
/* The threads a fill wants: requested, a positive count, or 0 for the budget; work: elements
 * weighted by their cost, in uniform-float32 elements. Small fills, fills in a forked child
 * and default fills inside an OpenMP region stay on the calling thread. A fill then runs on
 * its calling thread and as many of the wanted helpers as are idle (src_c/dispatch.c,
 * "threads"): fills running at once share the helpers; a default fill takes no more helpers
 * than the load signal sees free CPUs. */
int fastki_thread_count(int requested, uint64_t work);
int fastki_openmp_enabled(void);
int fastki_max_threads(void);
/* Helpers idle now (0 without POSIX threads, where an OpenMP team runs multi-threaded fills). */
int fastki_idle_helpers(void);

/* The thread settings. fastki/_settings.py reads them from the environment and the CPU quota
 * and hands them in; the kernel reads no environment variable. None changes a value. */
typedef struct {
    uint64_t chunk_groups; /* the largest piece a thread claims, 1 .. 2**24 groups (256) */
    int streaming;         /* -1: streaming stores from 32 MiB per call on (auto); 0: never; 1: always */
    int cpu_limit;         /* threads at most for default fills (the CPU quota); 0: no limit */
    int load_signal;       /* 1: default fills take helpers only for free CPUs (Linux); 0: off */
} fastki_thread_config;
/* FASTKI_E_BAD_ARGUMENT, and nothing changed, when a field is out of range. Fills already
 * running keep the settings they started with. */
int fastki_configure(const fastki_thread_config *config);
void fastki_thread_settings(fastki_thread_config *out);

/* What the calling thread's last fastki_fill of at least one element did (for tests). */
typedef struct {
    int threads;            /* the calling thread and the helpers it recruited (1: alone) */
    int want;               /* fastki_thread_count's answer */
    int budget;             /* fastki_thread_budget() then */
    uint64_t pieces;        /* pieces the range was cut into */
    uint64_t caller_pieces; /* of which the calling thread ran */
    int free_cpus;          /* free CPUs the load signal saw (-1: not asked) */
} fastki_fill_report;
void fastki_last_fill(fastki_fill_report *out);

/* Elements per group: a fill is cut only at multiples of this (docs/algorithm.md). */
uint64_t fastki_elements_per_group(fastki_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif
