# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled backend: a thin shell around src_c/. Arguments arrive validated by
fastki._api; this layer only releases the GIL, cuts long fills into slices so that Ctrl-C is
seen between them, and maps kernel error codes to exceptions."""
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport uint32_t, uint64_t

import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef extern from "fastki.h" nogil:
    ctypedef struct fastki_params:
        double loc
        double scale
        double value_min
        double value_max
        double p_low
        double p_width
        int mirror
    ctypedef struct fastki_request:
        int dist
        int dtype
        uint64_t seed
        uint64_t stream
        fastki_params params
        int simd
        int num_threads
    int FASTKI_OK
    int FASTKI_E_SIMD_UNAVAILABLE
    int FASTKI_SIMD_COUNT
    int fastki_fill(const fastki_request *req, uint64_t first, uint64_t count, void *out)
    void fastki_random_raw(uint64_t seed, uint64_t stream, uint64_t offset, uint64_t n, uint32_t *out)
    void fastki_philox4x32_10(const uint32_t *counters, const uint32_t *keys, uint32_t *out, size_t n)
    int fastki_simd_best()
    int fastki_simd_available(int simd)
    const char *fastki_simd_name(int simd)
    int fastki_thread_count(int requested, uint64_t count)
    int fastki_openmp_enabled()
    int fastki_max_threads()
    uint64_t fastki_elements_per_group(int dtype)

# Elements per slice between checks for Ctrl-C: a few milliseconds of work on 2 cores, and a
# multiple of both group sizes (80 and 32) so that slices never split a group.
cdef enum:
    SLICE_ELEMENTS = 80 * 32 * 2048

SIMD_NAMES = tuple(fastki_simd_name(i).decode() for i in range(FASTKI_SIMD_COUNT))


def simd_available():
    return [SIMD_NAMES[i] for i in range(FASTKI_SIMD_COUNT) if fastki_simd_available(i)]


def simd_best():
    return SIMD_NAMES[fastki_simd_best()]


def openmp_enabled():
    return bool(fastki_openmp_enabled())


def thread_count(int requested, uint64_t count):
    return fastki_thread_count(requested, count)


def max_threads():
    return fastki_max_threads()


cdef int _fill(fastki_request *req, uint64_t first, uint64_t count, char *out, size_t item) except -1:
    cdef uint64_t done = 0, take
    cdef int rc = FASTKI_OK
    while done < count:
        take = count - done
        if take > SLICE_ELEMENTS:
            take = SLICE_ELEMENTS
        with nogil:
            rc = fastki_fill(req, first + done, take, out + done * item)
        if rc == FASTKI_E_SIMD_UNAVAILABLE:
            raise ValueError(f"simd: the {SIMD_NAMES[req.simd]!r} path is not available on this "
                             f"CPU or build; available: {simd_available()}")
        if rc != FASTKI_OK:
            raise ValueError(f"fastki kernel rejected the request (code {rc})")
        done += take
        PyErr_CheckSignals()
    return 0


cdef void _request(fastki_request *req, int dist, cnp.ndarray out, uint64_t seed, uint64_t stream,
                   tuple params, int simd, int num_threads):
    req.dist = dist
    req.dtype = 0 if out.dtype.itemsize == 4 else 1
    req.seed = seed
    req.stream = stream
    req.params.loc, req.params.scale, req.params.value_min, req.params.value_max, \
        req.params.p_low, req.params.p_width, req.params.mirror = params
    req.simd = simd
    req.num_threads = num_threads


def fill(int dist, cnp.ndarray out, uint64_t seed, uint64_t stream, uint64_t first,
         tuple params, int simd, int num_threads):
    """Fill the C-contiguous float32/float64 array out with elements first, first + 1, ..."""
    cdef fastki_request req
    _request(&req, dist, out, seed, stream, params, simd, num_threads)
    _fill(&req, first, <uint64_t>out.size, <char *>cnp.PyArray_DATA(out), out.dtype.itemsize)
    return out


def fill_runs(int dist, cnp.ndarray out, uint64_t seed, uint64_t stream,
              cnp.ndarray[cnp.uint64_t, ndim=1] starts, uint64_t run_length,
              tuple params, int simd, int num_threads):
    """Fill out with consecutive runs: run i holds elements starts[i] .. + run_length - 1."""
    cdef fastki_request req
    cdef size_t item = out.dtype.itemsize
    cdef char *base = <char *>cnp.PyArray_DATA(out)
    cdef Py_ssize_t i, n = starts.shape[0]
    _request(&req, dist, out, seed, stream, params, simd, num_threads)
    if run_length >= SLICE_ELEMENTS // 16:
        for i in range(n):
            _fill(&req, starts[i], run_length, base + i * run_length * item, item)
        return out
    # short runs: many per trip into nogil, checking for Ctrl-C between batches
    cdef Py_ssize_t batch = max(1, SLICE_ELEMENTS // (16 * run_length + 80)), j, stop
    cdef int rc = FASTKI_OK
    i = 0
    while i < n:
        stop = min(n, i + batch)
        with nogil:
            for j in range(i, stop):
                rc = fastki_fill(&req, starts[j], run_length, base + j * run_length * item)
                if rc != FASTKI_OK:
                    break
        if rc != FASTKI_OK:
            raise ValueError(f"simd: the {SIMD_NAMES[req.simd]!r} path is not available on this "
                             f"CPU or build; available: {simd_available()}")
        PyErr_CheckSignals()
        i = stop
    return out


def random_raw(cnp.ndarray[cnp.uint32_t, ndim=1] out, uint64_t seed, uint64_t stream, uint64_t offset):
    cdef uint64_t n = out.shape[0], done = 0, take
    cdef uint32_t *data = <uint32_t *>cnp.PyArray_DATA(out)
    while done < n:
        take = min(n - done, <uint64_t>SLICE_ELEMENTS)
        with nogil:
            fastki_random_raw(seed, stream, offset + done, take, data + done)
        PyErr_CheckSignals()
        done += take
    return out


def philox4x32_10(cnp.ndarray counters, cnp.ndarray keys, cnp.ndarray out):
    """counters (n, 4), keys (n, 2), out (n, 4): C-contiguous uint32."""
    cdef size_t n = out.shape[0]
    with nogil:
        fastki_philox4x32_10(<const uint32_t *>cnp.PyArray_DATA(counters),
                             <const uint32_t *>cnp.PyArray_DATA(keys),
                             <uint32_t *>cnp.PyArray_DATA(out), n)
    return out
