# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled backend: a thin shell around src_c/. Arguments arrive validated by
fastki._api; this layer only releases the GIL, cuts long fills into slices so that Ctrl-C is
seen between them, and maps kernel error codes to exceptions."""
from cpython.exc cimport PyErr_CheckSignals, PyErr_Clear, PyErr_Occurred
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

import numpy as np
cimport numpy as cnp

cnp.import_array()

# Declared here without Cython's "except? -1": the common-call checks below clear the error
# themselves and send the call to _api, which raises its own, clearer one.
cdef extern from "Python.h":
    unsigned long long PyLong_AsUnsignedLongLong(object) noexcept
    double PyLong_AsDouble(object) noexcept

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
# Fills up to this many elements keep the GIL: they take microseconds, less than releasing
# and taking it back would cost other threads.
cdef enum:
    KEEP_GIL_ELEMENTS = 1 << 14

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
        if take <= KEEP_GIL_ELEMENTS:
            rc = fastki_fill(req, first + done, take, out + done * item)
        else:
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


# --------------------------------------------------------------------------- the common call
# fastki._api is the one validator. A small fill spends most of its time there, though, so the
# public uniform/normal/truncated_normal are the functions below: they serve a call at C speed
# only when it is one _api has already accepted -- exact int/float arguments, out and block
# absent, float32 or float64, the native backend, and distribution parameters _api validated
# and rounded before (accept_params). Every other call, and any surprise on the way (a huge
# shape, a failed allocation), goes to _api's function, which validates it and raises. The
# two routes give the same bytes (tests/test_common_path.py).

cdef struct AcceptedParams:
    bint used
    int dist
    bint is_f64
    int nargs
    uint64_t arg_bits[4]
    fastki_params params

cdef enum:
    ACCEPTED_SLOTS = 256     # a power of two; a collision only sends a call to _api again
    MAX_COMMON_NDIM = 8
    MAX_COMMON_NARGS = 4

# Parameters _api has validated, by the bits of their arguments (so -0.0 is not 0.0). Written
# only with the GIL held; forgetting an entry costs speed, never values.
cdef AcceptedParams _accepted[ACCEPTED_SLOTS]

cdef object _api = None             # the fastki._api module, bound once by bind_api()
cdef object _options_var = None     # _api's ContextVar of fastki.options()
cdef object _default_options = None
cdef bint _env_native = False       # FASTKI_BACKEND (or its default) is native
cdef int _env_simd = -1             # FASTKI_SIMD as a path index, -1 for the best


cdef inline uint64_t _double_bits(double x) nogil:
    cdef uint64_t bits
    memcpy(&bits, &x, sizeof(bits))
    return bits


cdef inline Py_ssize_t _slot(int dist, bint is_f64, const double *args, int nargs) nogil:
    cdef uint64_t h = <uint64_t>(dist * 2 + is_f64) * 0x9E3779B97F4A7C15ULL
    cdef int i
    for i in range(nargs):
        h = (h ^ _double_bits(args[i])) * 0xBF58476D1CE4E5B9ULL
        h ^= h >> 31
    return <Py_ssize_t>(h & (ACCEPTED_SLOTS - 1))


def accept_params(int dist, bint is_f64, tuple args, tuple params):
    """Remember that _api accepted these distribution arguments (floats) for this dtype, and
    the kernel parameters it derived from them."""
    cdef double values[MAX_COMMON_NARGS]
    cdef int i, nargs = len(args)
    if nargs > MAX_COMMON_NARGS:
        return
    for i in range(nargs):
        values[i] = args[i]
    cdef AcceptedParams *entry = &_accepted[_slot(dist, is_f64, values, nargs)]
    entry.used = False
    entry.dist, entry.is_f64, entry.nargs = dist, is_f64, nargs
    for i in range(nargs):
        entry.arg_bits[i] = _double_bits(values[i])
    entry.params.loc, entry.params.scale, entry.params.value_min, entry.params.value_max, \
        entry.params.p_low, entry.params.p_width, entry.params.mirror = params
    entry.used = True


cdef const fastki_params *_accepted_params(int dist, bint is_f64, const double *args, int nargs):
    cdef AcceptedParams *entry = &_accepted[_slot(dist, is_f64, args, nargs)]
    cdef int i
    if not entry.used or entry.dist != dist or entry.is_f64 != is_f64 or entry.nargs != nargs:
        return NULL
    for i in range(nargs):
        if entry.arg_bits[i] != _double_bits(args[i]):
            return NULL
    return &entry.params


def bind_api(api):
    """Called once by fastki._api when it has loaded: where uncommon calls go."""
    global _api, _options_var, _default_options, _env_native, _env_simd
    _api = api
    _options_var = api._options
    _default_options = _options_var.get()
    _env_native = api._ENV_BACKEND == "native"
    _env_simd = -1 if api._ENV_SIMD is None else api._SIMD_NAMES.index(api._ENV_SIMD)


cdef bint _as_double(object x, double *out):
    """x as a double when it is an exact float or int; False (no exception) otherwise."""
    if type(x) is float:
        out[0] = PyFloat_AS_DOUBLE(x)
        return True
    if type(x) is int:
        out[0] = PyLong_AsDouble(x)  # correctly rounded, as float(x) in _api
        if out[0] == -1.0 and PyErr_Occurred():
            PyErr_Clear()
            return False
        return True
    return False


cdef bint _as_u64(object x, uint64_t *out):
    """x when it is an exact int in [0, 2**64); False (no exception) otherwise."""
    if type(x) is not int:
        return False
    out[0] = PyLong_AsUnsignedLongLong(x)
    if out[0] == <uint64_t>-1 and PyErr_Occurred():  # negative or too large
        PyErr_Clear()
        return False
    return True


cdef int _common_dtype(object dtype):
    """0 for float32, 1 for float64 in their common spellings; -1 for anything else."""
    if type(dtype) is str:
        if dtype == "float32":
            return 0
        if dtype == "float64":
            return 1
        return -1
    if dtype is np.float32 or dtype is _F32:
        return 0
    if dtype is np.float64 or dtype is _F64:
        return 1
    return -1


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


cdef int _common_shape(object shape, cnp.npy_intp *dims):
    """The rank of shape when it is an int or a short tuple of ints, each below 2**31 and
    with fewer than 2**40 elements in all; -1 for anything else."""
    cdef Py_ssize_t i, ndim
    cdef uint64_t d, total = 1
    cdef object item
    if type(shape) is int:
        if not _as_u64(shape, &d) or d >= (1ULL << 31):
            return -1
        dims[0] = <cnp.npy_intp>d
        return 1
    if type(shape) is not tuple:
        return -1
    ndim = PyTuple_GET_SIZE(shape)
    if ndim > MAX_COMMON_NDIM:
        return -1
    for i in range(ndim):
        item = <object>PyTuple_GET_ITEM(shape, i)
        if not _as_u64(item, &d) or d >= (1ULL << 31):
            return -1
        total *= d if d else 1
        if total >= (1ULL << 40):
            return -1
        dims[i] = <cnp.npy_intp>d
    return <int>ndim


cdef object _common_call(int dist, object shape, const double *args, int nargs, object seed,
                         object stream, object dtype):
    """The filled array when this is a common call, else None (the caller asks _api)."""
    cdef fastki_request req
    cdef cnp.npy_intp dims[MAX_COMMON_NDIM]
    cdef int ndim, dtype_code
    cdef const fastki_params *params
    cdef cnp.ndarray out
    cdef uint64_t size = 1
    if _api is None:
        return None
    dtype_code = _common_dtype(dtype)
    if dtype_code < 0:
        return None
    ndim = _common_shape(shape, dims)
    if ndim < 0 or not _as_u64(stream, &req.stream):
        return None
    params = _accepted_params(dist, dtype_code == 1, args, nargs)
    if params == NULL:
        return None
    options = _options_var.get()
    if options is _default_options:
        if not _env_native:
            return None
        req.simd, req.num_threads = _env_simd, 0
    else:
        backend, req.simd, req.num_threads = _api._config()
        if backend != "native":
            return None
    if seed is None:
        seed = _api._seed_arg(None)  # a fresh 64-bit seed from the OS
    if not _as_u64(seed, &req.seed):
        return None
    req.dist, req.dtype, req.params = dist, dtype_code, params[0]
    try:
        out = cnp.PyArray_EMPTY(ndim, dims, cnp.NPY_FLOAT64 if dtype_code else cnp.NPY_FLOAT32, 0)
    except MemoryError:
        return None  # _api says which shape could not be allocated
    for i in range(ndim):
        size *= <uint64_t>dims[i]
    _fill(&req, 0, size, <char *>cnp.PyArray_DATA(out), 8 if dtype_code else 4)
    return out


def uniform(shape, minval=0.0, maxval=1.0, *, seed=None, stream=0, dtype="float32", out=None,
            block=None):
    cdef double args[2]
    if (out is None and block is None and _as_double(minval, &args[0])
            and _as_double(maxval, &args[1])):
        result = _common_call(0, shape, args, 2, seed, stream, dtype)
        if result is not None:
            return result
    return _api._uniform(shape, minval, maxval, seed=seed, stream=stream, dtype=dtype, out=out,
                         block=block)


def normal(shape, mean=0.0, stddev=1.0, *, seed=None, stream=0, dtype="float32", out=None,
           block=None):
    cdef double args[2]
    if (out is None and block is None and _as_double(mean, &args[0])
            and _as_double(stddev, &args[1])):
        result = _common_call(1, shape, args, 2, seed, stream, dtype)
        if result is not None:
            return result
    return _api._normal(shape, mean, stddev, seed=seed, stream=stream, dtype=dtype, out=out,
                        block=block)


def truncated_normal(shape, mean=0.0, stddev=1.0, *, lower=-2.0, upper=2.0, seed=None, stream=0,
                     dtype="float32", out=None, block=None):
    cdef double args[4]
    if (out is None and block is None and _as_double(mean, &args[0])
            and _as_double(stddev, &args[1]) and _as_double(lower, &args[2])
            and _as_double(upper, &args[3])):
        result = _common_call(2, shape, args, 4, seed, stream, dtype)
        if result is not None:
            return result
    return _api._truncated_normal(shape, mean, stddev, lower=lower, upper=upper, seed=seed,
                                  stream=stream, dtype=dtype, out=out, block=block)


# --------------------------------------------------------------------------- threads
# What the kernel decides about threads (src_c/dispatch.c, "threads"): the split settings read
# from the environment, the sharing rule for fills in flight, and what the calling thread's
# last fill did. Used by tests and `python -m fastki bench --busy`; none changes a value.
from libc.stdint cimport int64_t

cdef extern from "fastki.h" nogil:
    ctypedef struct fastki_thread_config:
        int schedule
        uint64_t chunk_groups
        int streaming
        int share
        int invalid
    ctypedef struct fastki_fill_report:
        int threads
        int want
        int budget
        int shared
        int64_t fills
        int64_t others
        int schedule
        uint64_t pieces
    const fastki_thread_config *fastki_thread_settings()
    int fastki_share_threads(int want, int budget, int64_t fills, int64_t others)
    void fastki_last_fill(fastki_fill_report *out)
    void fastki_threads_in_flight(int64_t *fills, int64_t *extra)
    void fastki_debug_occupy(int64_t fills, int64_t extra)

SCHEDULES = ("static", "dynamic", "guided")
_THREAD_ENV = (("FASTKI_SCHEDULE", "static, dynamic, guided"),
               ("FASTKI_CHUNK_GROUPS", "an integer from 1 to 16777216"),
               ("FASTKI_STREAMING", "auto, on, off"),
               ("FASTKI_SHARE_THREADS", "1, 0"))


def thread_settings():
    """The split settings in force: schedule, chunk_groups, streaming, share_threads."""
    cdef const fastki_thread_config *c = fastki_thread_settings()
    return {"schedule": SCHEDULES[c.schedule], "chunk_groups": c.chunk_groups,
            "streaming": ("auto", "off", "on")[c.streaming + 1], "share_threads": bool(c.share)}


def share_threads(int want, int budget, int64_t fills, int64_t others):
    """The sharing rule (src_c/fastki.h, fastki_share_threads) for the given state."""
    return fastki_share_threads(want, budget, fills, others)


def last_fill():
    """What this thread's last kernel fill of at least one element did."""
    cdef fastki_fill_report r
    fastki_last_fill(&r)
    return {"threads": r.threads, "want": r.want, "budget": r.budget, "shared": bool(r.shared),
            "fills": r.fills, "others": r.others, "schedule": SCHEDULES[r.schedule],
            "pieces": r.pieces}


def threads_in_flight():
    """(multi-threaded fills in flight in this process, extra threads they hold)."""
    cdef int64_t fills, extra
    fastki_threads_in_flight(&fills, &extra)
    return fills, extra


def _debug_occupy(int64_t fills, int64_t extra):
    """Tests only: count pretend fills holding extra threads in; negative values take them out."""
    fastki_debug_occupy(fills, extra)


def _check_thread_env():
    """A ValueError naming the first FASTKI_* thread variable the kernel ignored as invalid."""
    import os
    cdef int invalid = fastki_thread_settings().invalid, bit
    for bit, (name, allowed) in enumerate(_THREAD_ENV):
        if invalid & (1 << bit):
            raise ValueError(f"{name}={os.environ.get(name, '')!r} is not one of {allowed}")


_check_thread_env()
