// Which kernels run an ISA on this CPU: the one place where CPU facts (VNNI, MNV2_MAX_ISA
// through cpu_supports, a test's IsaSubstitute) choose among the tables that kernels/
// defines. kernels/ itself never looks at the CPU.
#pragma once

#include "mnv2/mnv2.h"

namespace mnv2 {

namespace kernels {
struct KernelTable;
struct QKernelTable;
}  // namespace kernels

// The fp32 table for `isa` (which must be supported: cpu_supports).
const kernels::KernelTable& kernel_table(Isa isa);
// The int8 table for `isa`; for Avx512 the one with the VNNI GEMM when cpu_has_vnni().
const kernels::QKernelTable& qkernel_table(Isa isa);

}  // namespace mnv2
