// A steady-state run allocates nothing: global operator new/delete are replaced in this
// test binary and count calls while a flag is set.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "mnv2/mnv2.h"
#include "runtime/cpu.h"
#include "test_util.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_alloc(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace mnv2 {
namespace {

long count_allocations(Model& m, const float* x, int batch, float* probs, float* logits,
                       float* features) {
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 3; ++i) m.run(x, batch, probs, logits, features);
  g_counting = false;
  return g_allocations.load();
}

class ExecutorAllocation : public ::testing::TestWithParam<test::IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

TEST_P(ExecutorAllocation, SteadyStateRunDoesNotAllocate) {
  const test::IsaVariant& v = GetParam();
  test::IsaScope scope(v);
  {
    const Isa isa = v.isa;
    Options o;
    o.threads = 2;
    o.isa = isa;
    o.max_batch = 2;
    Model m = Model::synthetic(0.5f, 96, 1001, 3, o);
    const size_t per = size_t(96) * 96 * 3;
    auto x = test::random_input(per * 4, 9);
    std::vector<float> probs(4 * 1001), logits(probs.size()), features(4 * 1280);
    m.run(x.data(), 1, probs.data());  // first run: threads are up, nothing lazy remains
    EXPECT_EQ(count_allocations(m, x.data(), 1, probs.data(), nullptr, nullptr), 0)
        << v.name();
    EXPECT_EQ(count_allocations(m, x.data(), 2, probs.data(), logits.data(), features.data()),
              0)
        << v.name();
    // The counter does see allocations: a batch beyond the plan re-plans once...
    EXPECT_GT(count_allocations(m, x.data(), 4, probs.data(), nullptr, nullptr), 0);
    // ...and then runs allocation-free again, for every batch up to the new plan.
    EXPECT_EQ(count_allocations(m, x.data(), 4, probs.data(), nullptr, nullptr), 0);
    EXPECT_EQ(count_allocations(m, x.data(), 3, probs.data(), nullptr, nullptr), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, ExecutorAllocation, ::testing::ValuesIn(test::fp32_variants()),
                         test::VariantName());

}  // namespace
}  // namespace mnv2
