/* MSVC's cpuid intrinsics (__cpuid, __cpuidex, _xgetbv) for GCC on x86, so that ci/aarch64.sh
 * can compile and run src_c/dispatch.c's MSVC CPU detection (-DFASTKI_CPUID_CHECK) here. */
#ifndef FASTKI_MSVC_SHIM_INTRIN_H
#define FASTKI_MSVC_SHIM_INTRIN_H
static inline void __cpuidex(int r[4], int leaf, int sub)
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline void __cpuid(int r[4], int leaf) { __cpuidex(r, leaf, 0); }
static inline unsigned long long _xgetbv(unsigned int x)
{
    unsigned int a, d;
    __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(x));
    return ((unsigned long long)d << 32) | a;
}
#endif
