// Constant folding of shape arithmetic: small N-D integer or float tensors and the tensor
// ops exporters chain to compute pads and shapes (torch builds the pads of F.pad with
// ConstantOfShape, Concat, Reshape, Slice, Transpose and Cast, for example).
//
// Unlike the graph passes (graph/passes.h) this runs while a loader translates: the loader
// needs the values to translate the op that reads them (a Pad's amounts, a Reshape's
// target). Format-neutral: a loader maps its op's attributes onto these functions. Every
// result holds at most kMaxFolded elements; larger requests throw mnv2::Error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2::const_eval {

constexpr int64_t kMaxFolded = int64_t(1) << 20;

struct Tensor {
  std::vector<int64_t> dims;
  bool integer = true;
  std::vector<int64_t> iv;  // integer values
  std::vector<double> fv;   // float values
  size_t size() const { return integer ? iv.size() : fv.size(); }
};

std::string dims_str(const std::vector<int64_t>& dims);
// The element count of dims; throws when it is negative or above kMaxFolded.
int64_t count_of(const std::vector<int64_t>& dims);
// axis in [-rank, rank) to [0, rank).
int norm_axis(int64_t axis, size_t rank);

// A tensor of shape `shape` (1-D integer) filled with value's single element (0.0 if null).
Tensor constant_of_shape(const Tensor& shape, const Tensor* value);
// Values converted to integers (truncating) or to floats.
Tensor cast(const Tensor& x, bool to_integer);
// New dims; -1 infers one axis, 0 copies the input's axis unless allow_zero.
Tensor reshape(const Tensor& x, std::vector<int64_t> shape, bool allow_zero);
// Drops the listed unit axes (all unit axes when none are listed).
Tensor squeeze(const Tensor& x, const std::vector<int64_t>& axes);
// Inserts unit axes at the listed output positions.
Tensor unsqueeze(const Tensor& x, const std::vector<int64_t>& axes);
// Output axis i is input axis perm[i] (reversed when perm is empty).
Tensor transpose(const Tensor& x, std::vector<int64_t> perm);
// Strided slices along axes (0.. when empty) with steps (1 when empty), clamped as NumPy.
Tensor slice(const Tensor& x, const std::vector<int64_t>& starts,
             const std::vector<int64_t>& ends, std::vector<int64_t> axes,
             std::vector<int64_t> steps);
Tensor concat(const std::vector<Tensor>& in, int64_t axis);
// Elements of x along `axis` picked by integer `indices` (negative counts from the end).
Tensor gather(const Tensor& x, const Tensor& indices, int64_t axis);

}  // namespace mnv2::const_eval
