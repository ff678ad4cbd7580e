# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled backend: a thin shell around src_c/ that holds kernels only -- fills, runs of
fills, raw words, Philox, and what the kernel knows of SIMD paths and threads. Arguments
arrive validated and resolved by fastki._api; this layer releases the GIL, cuts long fills
into slices so that Ctrl-C is seen between them, and maps kernel error codes to exceptions.
It imports no Python module of fastki and calls none back."""
from cpython.exc cimport PyErr_CheckSignals, PyErr_Clear, PyErr_Occurred
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

import numpy as np
cimport numpy as cnp

cnp.import_array()

# Declared here without Cython's "except? -1": the common-call checks below clear the error
# themselves and decline the call, whose validator then raises its own, clearer one.
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

cdef extern from "fpenv.h" nogil:
    long long fastki_fpenv_begin()
    void fastki_fpenv_end(long long token)

# Elements per slice between checks for Ctrl-C: a few milliseconds of work on 2 cores, and a
# multiple of both group sizes (80 and 32) so that slices never split a group.
cdef enum:
    SLICE_ELEMENTS = 80 * 32 * 2048
# Fills up to this many elements keep the GIL: they take microseconds, less than releasing
# and taking it back would cost other threads.
cdef enum:
    KEEP_GIL_ELEMENTS = 1 << 14

SIMD_NAMES = tuple(fastki_simd_name(i).decode() for i in range(FASTKI_SIMD_COUNT))


def fp_environment_begin():
    """Put this thread in the default floating-point environment for Python and NumPy
    arithmetic that makes values (src_c/fpenv.h); returns the token for fp_environment_end.
    Raises FloatingPointError where the environment cannot be set and is not the default."""
    cdef long long token = fastki_fpenv_begin()
    if token == -2:
        raise FloatingPointError(
            "fastki: this thread's floating-point environment is not the default "
            "(round to nearest-even, no flush-to-zero): fastki's values are defined in it "
            "(docs/algorithm.md, \"Floating-point environment\")")
    return token


def fp_environment_end(long long token):
    """Put back the environment fp_environment_begin found."""
    fastki_fpenv_end(token)


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


# --------------------------------------------------------------------------- constants
# The constants the kernel was compiled with (src_c/approx.h, src_c/philox.h), read back so
# that tests/test_constants.py can compare them bit for bit with fastki/_constants.py, the
# NumPy backend's copy: the two sources cannot drift apart unnoticed.
cdef extern from *:
    """
    #include "approx.h"
    #include "philox.h"
    #define FASTKI_F32_ARRAY(name, init) static const float name[] = init;
    #define FASTKI_F64_ARRAY(name, init) static const double name[] = init;
    FASTKI_F32_ARRAY(fastki_c_ppnd7_a, PPND7_A) FASTKI_F32_ARRAY(fastki_c_ppnd7_b, PPND7_B)
    FASTKI_F32_ARRAY(fastki_c_ppnd7_c, PPND7_C) FASTKI_F32_ARRAY(fastki_c_ppnd7_d, PPND7_D)
    FASTKI_F32_ARRAY(fastki_c_ppnd7_e, PPND7_E) FASTKI_F32_ARRAY(fastki_c_ppnd7_f, PPND7_F)
    FASTKI_F64_ARRAY(fastki_c_ppnd16_a, PPND16_A) FASTKI_F64_ARRAY(fastki_c_ppnd16_b, PPND16_B)
    FASTKI_F64_ARRAY(fastki_c_ppnd16_c, PPND16_C) FASTKI_F64_ARRAY(fastki_c_ppnd16_d, PPND16_D)
    FASTKI_F64_ARRAY(fastki_c_ppnd16_e, PPND16_E) FASTKI_F64_ARRAY(fastki_c_ppnd16_f, PPND16_F)
    static const float fastki_c_f32[] = {
        F32_SQRT2, F32_HALF_PI, LOG_F32_P0, LOG_F32_P1, LOG_F32_P2, LOG_F32_P3, LOG_F32_P4,
        LOG_F32_P5, LOG_F32_P6, LOG_F32_P7, LOG_F32_P8, LOG_F32_LN2_HI, LOG_F32_LN2_LO,
        SIN_F32_0, SIN_F32_1, SIN_F32_2, COS_F32_0, COS_F32_1, COS_F32_2};
    static const double fastki_c_f64[] = {
        F64_SQRT2, F64_HALF_PI, LOG_F64_LG1, LOG_F64_LG2, LOG_F64_LG3, LOG_F64_LG4,
        LOG_F64_LG5, LOG_F64_LG6, LOG_F64_LG7, LOG_F64_LN2_HI, LOG_F64_LN2_LO,
        SIN_F64_S1, SIN_F64_S2, SIN_F64_S3, SIN_F64_S4, SIN_F64_S5, SIN_F64_S6,
        COS_F64_C1, COS_F64_C2, COS_F64_C3, COS_F64_C4, COS_F64_C5, COS_F64_C6,
        AS241_SPLIT1, AS241_SPLIT2, AS241_CONST1, AS241_CONST2};
    static const unsigned long long fastki_c_int[] = {
        PHILOX_M4x32_0, PHILOX_M4x32_1, PHILOX_W32_0, PHILOX_W32_1, PHILOX_ROUNDS,
        GROUP_BLOCKS, F32_PER_GROUP, F64_PER_GROUP, F32_SQRT2_BITS, F64_SQRT2_BITS};
    """
    const float fastki_c_ppnd7_a[4], fastki_c_ppnd7_b[4], fastki_c_ppnd7_c[4]
    const float fastki_c_ppnd7_d[3], fastki_c_ppnd7_e[4], fastki_c_ppnd7_f[3]
    const double fastki_c_ppnd16_a[8], fastki_c_ppnd16_b[8], fastki_c_ppnd16_c[8]
    const double fastki_c_ppnd16_d[8], fastki_c_ppnd16_e[8], fastki_c_ppnd16_f[8]
    const float fastki_c_f32[19]
    const double fastki_c_f64[27]
    const unsigned long long fastki_c_int[10]

_F32_CONSTANT_NAMES = (
    "F32_SQRT2", "F32_HALF_PI", "LOG_F32_P0", "LOG_F32_P1", "LOG_F32_P2", "LOG_F32_P3",
    "LOG_F32_P4", "LOG_F32_P5", "LOG_F32_P6", "LOG_F32_P7", "LOG_F32_P8", "LOG_F32_LN2_HI",
    "LOG_F32_LN2_LO", "SIN_F32_0", "SIN_F32_1", "SIN_F32_2", "COS_F32_0", "COS_F32_1",
    "COS_F32_2")
_F64_CONSTANT_NAMES = (
    "F64_SQRT2", "F64_HALF_PI", "LOG_F64_LG1", "LOG_F64_LG2", "LOG_F64_LG3", "LOG_F64_LG4",
    "LOG_F64_LG5", "LOG_F64_LG6", "LOG_F64_LG7", "LOG_F64_LN2_HI", "LOG_F64_LN2_LO",
    "SIN_F64_S1", "SIN_F64_S2", "SIN_F64_S3", "SIN_F64_S4", "SIN_F64_S5", "SIN_F64_S6",
    "COS_F64_C1", "COS_F64_C2", "COS_F64_C3", "COS_F64_C4", "COS_F64_C5", "COS_F64_C6",
    "AS241_SPLIT1", "AS241_SPLIT2", "AS241_CONST1", "AS241_CONST2")
_INT_CONSTANT_NAMES = (
    "PHILOX_M4x32_0", "PHILOX_M4x32_1", "PHILOX_W32_0", "PHILOX_W32_1", "PHILOX_ROUNDS",
    "GROUP_BLOCKS", "F32_PER_GROUP", "F64_PER_GROUP", "F32_SQRT2_BITS", "F64_SQRT2_BITS")


def compiled_constants():
    """{name: value} of every constant in src_c/approx.h and src_c/philox.h as compiled:
    float32 constants as np.float32, float64 as np.float64, integers as int; the AS 241
    coefficient lists as tuples under "PPND7_A" .. "PPND16_F"."""
    result = {}
    cdef int i
    for i, name in enumerate(_F32_CONSTANT_NAMES):
        result[name] = np.float32(fastki_c_f32[i])
    for i, name in enumerate(_F64_CONSTANT_NAMES):
        result[name] = np.float64(fastki_c_f64[i])
    for i, name in enumerate(_INT_CONSTANT_NAMES):
        result[name] = int(fastki_c_int[i])
    result["PPND7_A"] = tuple(np.float32(fastki_c_ppnd7_a[i]) for i in range(4))
    result["PPND7_B"] = tuple(np.float32(fastki_c_ppnd7_b[i]) for i in range(4))
    result["PPND7_C"] = tuple(np.float32(fastki_c_ppnd7_c[i]) for i in range(4))
    result["PPND7_D"] = tuple(np.float32(fastki_c_ppnd7_d[i]) for i in range(3))
    result["PPND7_E"] = tuple(np.float32(fastki_c_ppnd7_e[i]) for i in range(4))
    result["PPND7_F"] = tuple(np.float32(fastki_c_ppnd7_f[i]) for i in range(3))
    result["PPND16_A"] = tuple(np.float64(fastki_c_ppnd16_a[i]) for i in range(8))
    result["PPND16_B"] = tuple(np.float64(fastki_c_ppnd16_b[i]) for i in range(8))
    result["PPND16_C"] = tuple(np.float64(fastki_c_ppnd16_c[i]) for i in range(8))
    result["PPND16_D"] = tuple(np.float64(fastki_c_ppnd16_d[i]) for i in range(8))
    result["PPND16_E"] = tuple(np.float64(fastki_c_ppnd16_e[i]) for i in range(8))
    result["PPND16_F"] = tuple(np.float64(fastki_c_ppnd16_f[i]) for i in range(8))
    return result


# --------------------------------------------------------------------------- the common call
# A small fill spends most of its time on argument checks, so fastki._api lets a common call
# try fill_accepted first: it serves the call only when fastki/_params.py has already checked
# and derived these exact distribution arguments (params_for, which records them here with
# accept_params), and the other arguments are plain -- exact ints and floats, float32/float64,
# a short shape, an `out` that is a C-contiguous, aligned, writable ndarray of that dtype and
# shape. It returns None for anything else, without raising or writing anything, and the
# caller then validates the call in Python. Nothing here imports or calls a Python module of
# fastki.
#
# The accepted table is fastki's one memo of distribution parameters: fastki/_params.py reads
# it back (accepted_params) for every call the common path does not serve. An entry holds the
# argument bits (so -0.0 is not 0.0), the kernel parameters as C doubles, and the _Params
# object they came from. It is written only by accept_params, which fastki/_params.py calls
# after its own checks passed, so no entry exists for arguments it refused. Entries are
# written and read with the GIL held and without running any Python code in between (the
# entry is copied into the request before anything that could run Python code, such as an
# allocation that starts the garbage collector): a reader never sees half an entry, and an
# entry overwritten later does not change a request already made. The module keeps the GIL
# on free-threaded builds.

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

cdef AcceptedParams _accepted[ACCEPTED_SLOTS]
# the _Params object of each entry, for fastki/_params.py (slot i of the table)
cdef list _accepted_objects = [None] * ACCEPTED_SLOTS
cdef int _NARGS[3]
_NARGS[:] = [2, 2, 4]


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


cdef int _float_args(int dist, tuple args, double *values) noexcept:
    """The number of distribution arguments, copied as doubles into values; -1 when args
    is not a tuple of floats of the length dist takes."""
    cdef int i, nargs = <int>PyTuple_GET_SIZE(args)
    cdef object item
    if dist < 0 or dist > 2 or nargs != _NARGS[dist]:
        return -1
    for i in range(nargs):
        item = <object>PyTuple_GET_ITEM(args, i)
        if type(item) is not float:
            return -1
        values[i] = PyFloat_AS_DOUBLE(item)
    return nargs


def accept_params(int dist, bint is_f64, tuple args not None, params):
    """Record that fastki/_params.py accepted these distribution arguments (floats) for
    this dtype, and the _Params object (with its kernel tuple, params.astuple) it derived."""
    cdef double values[MAX_COMMON_NARGS]
    cdef int i, nargs = _float_args(dist, args, values)
    if nargs < 0:
        return
    cdef fastki_params kernel_params
    kernel_params.loc, kernel_params.scale, kernel_params.value_min, kernel_params.value_max, \
        kernel_params.p_low, kernel_params.p_width, kernel_params.mirror = params.astuple
    # from here to the end no Python code runs: the entry is written whole
    cdef Py_ssize_t slot = _slot(dist, is_f64, values, nargs)
    cdef AcceptedParams *entry = &_accepted[slot]
    entry.dist, entry.is_f64, entry.nargs = dist, is_f64, nargs
    for i in range(nargs):
        entry.arg_bits[i] = _double_bits(values[i])
    entry.params = kernel_params
    entry.used = True
    _accepted_objects[slot] = params


def accepted_params(int dist, bint is_f64, tuple args not None):
    """The _Params object accept_params recorded for these arguments, or None."""
    cdef double values[MAX_COMMON_NARGS]
    cdef int nargs = _float_args(dist, args, values)
    cdef fastki_params unused
    if nargs < 0 or not _copy_accepted(dist, is_f64, values, nargs, &unused):
        return None
    return _accepted_objects[_slot(dist, is_f64, values, nargs)]


def forget_params():
    """Empty the accepted table (tests: parameters derived afresh on the next call)."""
    cdef int i
    for i in range(ACCEPTED_SLOTS):
        _accepted[i].used = False
        _accepted_objects[i] = None


cdef bint _copy_accepted(int dist, bint is_f64, const double *args, int nargs,
                         fastki_params *out) noexcept:
    """Copy the accepted entry for these arguments into out; False when there is none."""
    cdef AcceptedParams *entry = &_accepted[_slot(dist, is_f64, args, nargs)]
    cdef int i
    if not entry.used or entry.dist != dist or entry.is_f64 != is_f64 or entry.nargs != nargs:
        return False
    for i in range(nargs):
        if entry.arg_bits[i] != _double_bits(args[i]):
            return False
    out[0] = entry.params
    return True


cdef bint _as_double(object x, double *out) noexcept:
    """x as a double when it is an exact float or int; False (no exception) otherwise."""
    if type(x) is float:
        out[0] = PyFloat_AS_DOUBLE(x)
        return True
    if type(x) is int:
        out[0] = PyLong_AsDouble(x)  # correctly rounded, as float(x) in the validator
        if out[0] == -1.0 and PyErr_Occurred():
            PyErr_Clear()
            return False
        return True
    return False


cdef bint _as_u64(object x, uint64_t *out) noexcept:
    """x when it is an exact int in [0, 2**64); False (no exception) otherwise."""
    if type(x) is not int:
        return False
    out[0] = PyLong_AsUnsignedLongLong(x)
    if out[0] == <uint64_t>-1 and PyErr_Occurred():  # negative or too large
        PyErr_Clear()
        return False
    return True


cdef int _common_dtype(object dtype) noexcept:
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


cdef int _common_shape(object shape, cnp.npy_intp *dims) noexcept:
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


cdef bint _plain_out(object out, int dtype_code, int ndim, const cnp.npy_intp *dims) noexcept:
    """out is an ndarray (not a subclass) of exactly this dtype and shape that the kernel may
    write whole: C-contiguous, aligned, writable."""
    cdef cnp.ndarray a
    cdef int i
    if type(out) is not cnp.ndarray:
        return False
    a = <cnp.ndarray>out
    if cnp.PyArray_TYPE(a) != (cnp.NPY_FLOAT64 if dtype_code else cnp.NPY_FLOAT32):
        return False
    if not cnp.PyArray_ISNOTSWAPPED(a):
        return False
    if cnp.PyArray_NDIM(a) != ndim:
        return False
    for i in range(ndim):
        if cnp.PyArray_DIMS(a)[i] != dims[i]:
            return False
    return (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)
            and cnp.PyArray_ISWRITEABLE(a))


def fill_accepted(int dist, shape, a0, a1, a2, a3, seed, stream, dtype, out, int simd):
    """The filled array (out itself when given) for a common call whose distribution
    arguments were accepted before; None, with nothing written, for any other call."""
    cdef fastki_request req
    cdef cnp.npy_intp dims[MAX_COMMON_NDIM]
    cdef double args[MAX_COMMON_NARGS]
    cdef int ndim, dtype_code, i, nargs
    cdef uint64_t size = 1
    cdef cnp.ndarray result
    if dist < 0 or dist > 2:
        return None
    nargs = _NARGS[dist]
    if not (_as_double(a0, &args[0]) and _as_double(a1, &args[1])):
        return None
    if nargs == 4 and not (_as_double(a2, &args[2]) and _as_double(a3, &args[3])):
        return None
    dtype_code = _common_dtype(dtype)
    if dtype_code < 0:
        return None
    # the parameters first: copied whole before anything below can run Python code
    if not _copy_accepted(dist, dtype_code == 1, args, nargs, &req.params):
        return None
    ndim = _common_shape(shape, dims)
    if ndim < 0 or not _as_u64(seed, &req.seed) or not _as_u64(stream, &req.stream):
        return None
    req.dist, req.dtype, req.simd, req.num_threads = dist, dtype_code, simd, 0
    if out is None:
        try:
            result = cnp.PyArray_EMPTY(ndim, dims, cnp.NPY_FLOAT64 if dtype_code else cnp.NPY_FLOAT32, 0)
        except MemoryError:
            return None  # the validator says which shape could not be allocated
    elif _plain_out(out, dtype_code, ndim, dims):
        result = <cnp.ndarray>out
    else:
        return None
    for i in range(ndim):
        size *= <uint64_t>dims[i]
    _fill(&req, 0, size, <char *>cnp.PyArray_DATA(result), 8 if dtype_code else 4)
    return result


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
        int64_t recent
        int schedule
        uint64_t pieces
    const fastki_thread_config *fastki_thread_settings()
    int fastki_share_threads(int want, int budget, int64_t fills, int64_t others)
    void fastki_last_fill(fastki_fill_report *out)
    void fastki_threads_in_flight(int64_t *fills, int64_t *extra)
    void fastki_debug_occupy(int64_t fills, int64_t extra)
    void fastki_debug_forget_recent()

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
            "fills": r.fills, "others": r.others, "recent": r.recent,
            "schedule": SCHEDULES[r.schedule],
            "pieces": r.pieces}


def threads_in_flight():
    """(multi-threaded fills in flight in this process, extra threads they hold)."""
    cdef int64_t fills, extra
    fastki_threads_in_flight(&fills, &extra)
    return fills, extra


def _debug_occupy(int64_t fills, int64_t extra):
    """Tests only: count pretend fills holding extra threads in; negative values take them out."""
    fastki_debug_occupy(fills, extra)


def _debug_forget_recent():
    """Tests only: forget every recent caller (src_c/dispatch.c, "Recent callers")."""
    fastki_debug_forget_recent()


def _check_thread_env():
    """A ValueError naming the first FASTKI_* thread variable the kernel ignored as invalid."""
    import os
    cdef int invalid = fastki_thread_settings().invalid, bit
    for bit, (name, allowed) in enumerate(_THREAD_ENV):
        if invalid & (1 << bit):
            raise ValueError(f"{name}={os.environ.get(name, '')!r} is not one of {allowed}")


_check_thread_env()
