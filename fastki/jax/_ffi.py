"""fastki's fill as an XLA custom call on CPU (docs/jax.md, "Under jax.jit").

A traced initializer becomes one ``jax.ffi.ffi_call`` to the target ``fastki_fill``.  Its
operands are the key's two uint32 words and the block's index along every dimension (the
partitioner tiles evenly, so the block starts at that index times the block's length); its
result is the block.  XLA runs the handler below with the result's own buffer, into which
fastki writes the block with ``block=`` and ``out=`` (the C kernel, no copy).  What to make
(initializer, global shape, dtype) is a static attribute: the number of a recipe kept in
this module's table.

The handler follows XLA's typed FFI C API (jaxlib/include/xla/ffi/api/c_api.h of the
installed jaxlib), read with ctypes.  It is an FFI target and not a ``jax.pure_callback``
because a custom call survives ``custom_partitioning`` (fastki/jax/_partition.py): a
pure_callback's lowering refers to a Python callback by its index in the enclosing
module's list, which the partitioner's per-shard module does not carry (under jax 0.10.2
that index then points at nothing and the process crashes).
"""
import ctypes
import threading
from collections.abc import Callable, Hashable

import numpy as np

import jax

from .. import _api

TARGET = "fastki_fill"

# c_api.h: XLA_FFI_API_MAJOR / XLA_FFI_API_MINOR of the API this handler is written to
_API_MAJOR, _API_MINOR = 0, 1

_EXTENSION_METADATA = 1      # XLA_FFI_Extension_Metadata
_STAGE_EXECUTE = 3           # XLA_FFI_ExecutionStage_EXECUTE
_ATTR_SCALAR = 3             # XLA_FFI_AttrType_SCALAR
_ERROR_INTERNAL = 13         # XLA_FFI_Error_Code_INTERNAL
_ERROR_INVALID_ARGUMENT = 3  # XLA_FFI_Error_Code_INVALID_ARGUMENT

# XLA_FFI_DataType of the dtypes fastki makes, and of the operands
_FFI_DTYPES = {11: np.dtype("float32"), 12: np.dtype("float64"), 10: np.dtype("float16"),
               8: np.dtype("uint32"), 9: np.dtype("uint64"), 4: np.dtype("int32"),
               5: np.dtype("int64")}
_BF16 = 16
_U32 = 8
_S64 = 5


class _ExtensionBase(ctypes.Structure):
    pass


_ExtensionBase._fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int),
                           ("next", ctypes.POINTER(_ExtensionBase))]


class _ApiVersion(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("major_version", ctypes.c_int), ("minor_version", ctypes.c_int)]


class _TypeId(ctypes.Structure):
    _fields_ = [("type_id", ctypes.c_int64)]


class _Metadata(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("api_version", _ApiVersion),
                ("traits", ctypes.c_uint32), ("state_type_id", _TypeId)]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("extension_base", _ExtensionBase), ("metadata", ctypes.POINTER(_Metadata))]


class _Buffer(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("dtype", ctypes.c_int), ("data", ctypes.c_void_p), ("rank", ctypes.c_int64),
                ("dims", ctypes.POINTER(ctypes.c_int64))]


class _List(ctypes.Structure):  # XLA_FFI_Args and XLA_FFI_Rets have one layout
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("size", ctypes.c_int64), ("types", ctypes.POINTER(ctypes.c_int)),
                ("items", ctypes.POINTER(ctypes.POINTER(_Buffer)))]


class _ByteSpan(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Scalar(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("value", ctypes.c_void_p)]


class _Attrs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("size", ctypes.c_int64), ("types", ctypes.POINTER(ctypes.c_int)),
                ("names", ctypes.POINTER(ctypes.POINTER(_ByteSpan))),
                ("attrs", ctypes.POINTER(ctypes.c_void_p))]


class _ErrorCreateArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("message", ctypes.c_char_p), ("errc", ctypes.c_int)]


_ErrorCreate = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_ErrorCreateArgs))


class _Api(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("api_version", _ApiVersion), ("internal_api", ctypes.c_void_p),
                ("error_create", _ErrorCreate)]


class _CallFrame(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("extension_start", ctypes.POINTER(_ExtensionBase)),
                ("api", ctypes.POINTER(_Api)), ("ctx", ctypes.c_void_p), ("stage", ctypes.c_int),
                ("args", _List), ("rets", _List), ("attrs", _Attrs), ("future", ctypes.c_void_p)]


# ---------------------------------------------------------------------------- recipes

# recipe number -> make(seed, block, out): fills out with the block of the recipe's values.
# Recipes are interned by their description, so that tracing the same initializer again
# reuses its number; the table only grows with distinct (initializer, shape, dtype).
_RECIPES: list[Callable[[int, tuple[slice, ...], np.ndarray], None]] = []
_NUMBERS: dict[Hashable, int] = {}
_LOCK = threading.Lock()


def recipe_number(description, make):
    """The number of a recipe: ``description`` (hashable) names it, ``make(seed, block,
    out)`` writes the block (a tuple of slices) of its values for ``seed`` into ``out``."""
    with _LOCK:
        number = _NUMBERS.get(description)
        if number is None:
            number = _NUMBERS[description] = len(_RECIPES)
            _RECIPES.append(make)
        return number


def _buffer_array(buf, dtype) -> np.ndarray:
    """The numpy view of an XLA_FFI_Buffer's memory (C order, as XLA's default layout)."""
    shape = tuple(buf.dims[i] for i in range(buf.rank))
    count = int(np.prod(shape, dtype=np.int64))
    if count == 0:
        return np.empty(shape, dtype)
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(buf.data)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _operand(buf, shape):
    """A uint32 operand (the key's words, the block index), its shape checked."""
    if buf.dtype != _U32:
        raise ValueError(f"fastki_fill: operand of XLA data type {buf.dtype}, not uint32")
    array = _buffer_array(buf, np.dtype("uint32"))
    if shape is not None and array.shape != shape:
        raise ValueError(f"fastki_fill: operand of shape {array.shape}, not {shape}")
    return array


def _result_dtype(code):
    if code == _BF16:
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return _FFI_DTYPES[code]


def _execute(frame):
    """Fill the result buffer.  Attribute ``recipe``: what to make.  Operands: the keys'
    words, uint32[2] for one key or uint32[keys, 2] for a batch (jax.vmap: the result then
    has a leading dimension over the keys), and the block's index along every dimension of
    the result (uint32[result rank])."""
    attrs = frame.attrs
    number = None
    for i in range(attrs.size):
        span = attrs.names[i].contents
        name = ctypes.string_at(span.ptr, span.len)
        if name == b"recipe" and attrs.types[i] == _ATTR_SCALAR:
            scalar = ctypes.cast(attrs.attrs[i], ctypes.POINTER(_Scalar)).contents
            if scalar.dtype == _S64:
                number = ctypes.c_int64.from_address(scalar.value).value
    if number is None or frame.args.size != 2 or frame.rets.size != 1:
        raise ValueError("fastki_fill: malformed call (recipe attribute, 2 operands, 1 result)")
    words = _operand(frame.args.items[0].contents, None)
    index = _operand(frame.args.items[1].contents, None)
    ret = frame.rets.items[0].contents
    out = _buffer_array(ret, _result_dtype(ret.dtype))
    if index.shape != (out.ndim,) or words.shape[-1:] != (2,) or words.ndim > 2 or (
            words.ndim == 2 and out.ndim < 1):
        raise ValueError(f"fastki_fill: key words of shape {words.shape} and block index of "
                         f"shape {index.shape} for a result of shape {out.shape}")
    if words.ndim == 1:
        fill(number, words, index, out)
        return
    # a batch: this block holds keys index[0] * len(out) onwards, one array each
    first = int(index[0]) * out.shape[0]
    for row in range(out.shape[0]):
        fill(number, words[first + row], index[1:], out[row])


def fill(number, words, index, out):
    """Write block ``index`` (uint32[rank]; evenly tiled, so block i along a dimension starts
    at i times ``out``'s length there) of recipe ``number`` for the key words ``words``
    (uint32[2]) into ``out``: the custom call's work, and the host callback's
    (fastki/jax/_traced.py) on other backends."""
    seed = (int(words[0]) << 32) | int(words[1])
    block = tuple(slice(int(i) * n, (int(i) + 1) * n) for i, n in zip(index, out.shape))
    # XLA's CPU threads flush subnormals to zero; the recipe's Python arithmetic (fans,
    # parameters) runs in the default environment, as the eager call's does
    # (docs/algorithm.md, section 13; the C kernel sets it itself)
    token = _api._fp_environment_begin()
    try:
        _RECIPES[number](seed, block, out)
    finally:
        _api._fp_environment_end(token)


@ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_CallFrame))
def _handler(frame_ptr):
    frame = frame_ptr.contents
    ext = frame.extension_start
    if ext and ext.contents.type == _EXTENSION_METADATA:
        # XLA asks which API version the handler speaks (at registration)
        metadata = ctypes.cast(ext, ctypes.POINTER(_MetadataExtension)).contents.metadata
        metadata.contents.api_version.major_version = _API_MAJOR
        metadata.contents.api_version.minor_version = _API_MINOR
        metadata.contents.traits = 0
        return None
    if frame.stage != _STAGE_EXECUTE:
        return None
    try:
        _execute(frame)
    except BaseException as exc:  # an error crossing into XLA must be an XLA_FFI_Error
        message = f"fastki_fill: {type(exc).__name__}: {exc}".encode()
        args = _ErrorCreateArgs(ctypes.sizeof(_ErrorCreateArgs), None, message,
                                _ERROR_INTERNAL)
        return frame.api.contents.error_create(ctypes.byref(args))
    return None


_registered = False


def register():
    """Register the target with XLA's CPU platform (once per process)."""
    global _registered
    with _LOCK:
        if not _registered:
            jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(_handler), platform="cpu")
            _registered = True
