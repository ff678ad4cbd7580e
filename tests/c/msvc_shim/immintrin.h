/* Empty: with tests/c/msvc_shim/intrin.h, src_c/dispatch.c's MSVC branch needs nothing more. */
