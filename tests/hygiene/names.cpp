// Compiled by ctest (tests/hygiene): after memlog's headers, an includer may
// still use these names, which system headers memlog must not pull in
// (<cpuid.h>, <x86intrin.h>, <immintrin.h>) define as macros or enumerators.

#include <memlog/memlog.hpp>

int bit_SSE = 1;
int bit_SSE2 = 1;
int bit_AVX = 1;
int bit_AVX2 = 1;
int signature_INTEL_ebx = 0;
int signature_AMD_ebx = 0;
int _MM_HINT_T0 = 0;
int _MM_HINT_NTA = 0;
int _MM_ROUND_NEAREST = 0;
int _MM_FROUND_TO_NEAREST_INT = 0;
int _CMP_EQ_OQ = 0;
int _XBEGIN_STARTED = 0;

int main() { return bit_SSE + bit_SSE2 + bit_AVX + bit_AVX2 - 4; }
