/* xfrt_isa.h - the vector ISA the kernels are built for (internal to the
 * runtime; embedded once into generated code, after xfrt.h).
 *
 * The choice is made when the generated C is compiled, from the compiler's
 * own target macros (-march=...), never at run time: exactly one of
 * XFRT_ISA_AVX512, XFRT_ISA_AVX2, XFRT_ISA_NEON and XFRT_ISA_PLAIN is 1.
 * -DXFRT_PLAIN_C forces the plain C11 kernels on any target.  Each ISA sums
 * in its own fixed order, so results are bitwise identical across thread
 * counts within one build and agree within float rounding across builds. */
#ifndef XFRT_ISA_H
#define XFRT_ISA_H

#if defined(XFRT_PLAIN_C)
#define XFRT_ISA_PLAIN 1
#define XFRT_ISA_NAME "plain C"
#elif defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)
#define XFRT_ISA_AVX512 1
#define XFRT_ISA_NAME "AVX-512"
#include <immintrin.h>
#elif defined(__AVX2__) && defined(__FMA__)
#define XFRT_ISA_AVX2 1
#define XFRT_ISA_NAME "AVX2+FMA"
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define XFRT_ISA_NEON 1
#define XFRT_ISA_NAME "NEON"
#include <arm_neon.h>
#else
#define XFRT_ISA_PLAIN 1
#define XFRT_ISA_NAME "plain C"
#endif

#ifndef XFRT_ISA_AVX512
#define XFRT_ISA_AVX512 0
#endif
#ifndef XFRT_ISA_AVX2
#define XFRT_ISA_AVX2 0
#endif
#ifndef XFRT_ISA_NEON
#define XFRT_ISA_NEON 0
#endif
#ifndef XFRT_ISA_PLAIN
#define XFRT_ISA_PLAIN 0
#endif

#endif
