/* The one place that knows the CPU, picks a SIMD path and decides how many threads a fill
 * uses. Keeps no mutable state: CPU features are read from the compiler runtime on each call.
 * The one exception is the fork marker below, set once in a forked child and never cleared. */
#include "fastki.h"

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
 * of the machines we measured (32 MiB), beyond which the output cannot stay cached anyway. */
#ifndef FASTKI_STREAM_MIN_BYTES
#define FASTKI_STREAM_MIN_BYTES (UINT64_C(32) << 20)
#endif

#ifndef FASTKI_MIN_WORK_PER_THREAD
#define FASTKI_MIN_WORK_PER_THREAD UINT64_C(8192)
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
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define CPU_HAS(feature) __builtin_cpu_supports(#feature)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
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

/* Relative cost of one element, uniform float32 = 1 (measured on the AVX2/AVX-512 paths). */
static uint64_t element_cost(fastki_dist dist, fastki_dtype dtype)
{
    static const uint8_t cost[3][2] = {{1, 2}, {2, 5}, {4, 10}}; /* [dist][dtype] */
    return (unsigned)dist < 3u && (unsigned)dtype < 2u ? cost[dist][dtype] : 1u;
}

int fastki_thread_count(int requested, uint64_t work)
{
    if (!fastki_openmp_enabled() || in_forked_child()) return 1; /* see the fork marker */
    uint64_t threads = requested > 0 ? (uint64_t)requested : (uint64_t)fastki_max_threads();
    uint64_t useful = work / FASTKI_MIN_WORK_PER_THREAD;
    if (threads > useful) threads = useful;
    return threads < 1 ? 1 : (int)threads;
}

uint64_t fastki_elements_per_group(fastki_dtype dtype)
{
    return dtype == FASTKI_FLOAT32 ? F32_PER_GROUP : F64_PER_GROUP;
}

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
    uint64_t cost = element_cost(req->dist, req->dtype);
    uint64_t work = count > UINT64_MAX / cost ? UINT64_MAX : count * cost;
    int threads = fastki_thread_count(req->num_threads, work);
    const size_t item = req->dtype == FASTKI_FLOAT32 ? 4 : 8;
    const int streaming = count >= FASTKI_STREAM_MIN_BYTES / item;
    if (threads <= 1) {
        fill(req, first, count, out, streaming);
        return FASTKI_OK;
    }
#ifdef _OPENMP
    const uint64_t per_group = fastki_elements_per_group(req->dtype);
#pragma omp parallel num_threads(threads)
    {
        int nparts = omp_get_num_threads(), t = omp_get_thread_num();
        uint64_t lo = split_offset(first, count, per_group, t, nparts);
        uint64_t hi = split_offset(first, count, per_group, t + 1, nparts);
        if (hi > lo) fill(req, first + lo, hi - lo, (char *)out + (size_t)lo * item, streaming);
    }
#endif
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
