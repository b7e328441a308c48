// The portable instantiation of the AVX-512 bf16 kernels (the lane-by-lane definitions of
// vdpbf16ps / vcvtne2ps2bf16 that the SIMDe-emulated build uses), compiled here with the
// AVX-512 F/BW/DQ/VL flags but without -mavx512bf16, so that every AVX-512 machine runs it
// and the tests can hold it to the native table and the scalar twin bit for bit.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/avx512/bf16_impl.h"

namespace mnv2::test {

extern const kernels::Bf16KernelTable kBf16PortableTable;
const kernels::Bf16KernelTable kBf16PortableTable =
    kernels::MNV2_BF16_NS::make_table<12>("avx512 (portable bf16)");

}  // namespace mnv2::test
