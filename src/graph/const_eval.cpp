// Constant folding of small tensors (graph/const_eval.h). Every op bounds its output with
// count_of before materialising it, so hostile shapes fail instead of allocating.
#include "graph/const_eval.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

namespace mnv2::const_eval {
namespace {

// Output element k takes input element src[k].
Tensor gather_elements(const Tensor& in, std::vector<int64_t> dims, const std::vector<size_t>& src) {
  Tensor out;
  out.dims = std::move(dims);
  out.integer = in.integer;
  for (size_t k : src) {
    if (k >= in.size()) throw Error("internal: folded index out of range");
    if (in.integer) out.iv.push_back(in.iv[k]);
    else out.fv.push_back(in.fv[k]);
  }
  return out;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// Source offsets of an output of `dims` whose index i walks input offset
// base + sum(idx[i] * step[i]).
std::vector<size_t> walk(const std::vector<int64_t>& dims, int64_t base,
                         const std::vector<int64_t>& step) {
  const int64_t cnt = count_of(dims);
  std::vector<size_t> src(static_cast<size_t>(cnt));
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t k = 0; k < cnt; ++k) {
    int64_t off = base;
    for (size_t i = 0; i < dims.size(); ++i) off += idx[i] * step[i];
    src[size_t(k)] = size_t(off);
    for (size_t i = dims.size(); i-- > 0;) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
  return src;
}

}  // namespace

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

int64_t count_of(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d > 0 && n > kMaxFolded / d) || n * d > kMaxFolded)
      throw Error("constant of shape " + dims_str(dims) + " is too large to fold");
    n *= d;
  }
  return n;
}

int norm_axis(int64_t axis, size_t rank) {
  const int64_t r = int64_t(rank);
  if (axis < -r || axis >= r) throw Error("axis " + std::to_string(axis) + " out of range");
  return int(axis < 0 ? axis + r : axis);
}

Tensor constant_of_shape(const Tensor& shape, const Tensor* value) {
  if (!shape.integer) throw Error("shape must be integer");
  Tensor out;
  out.dims = shape.iv;
  const int64_t cnt = count_of(out.dims);
  Tensor v;
  v.integer = false;
  v.fv = {0.0};
  if (value) v = *value;
  if (v.size() != 1) throw Error("value must have one element");
  out.integer = v.integer;
  if (v.integer) out.iv.assign(size_t(cnt), v.iv[0]);
  else out.fv.assign(size_t(cnt), v.fv[0]);
  return out;
}

Tensor cast(const Tensor& x, bool to_integer) {
  Tensor out = x;
  if (to_integer && !x.integer) {
    out.integer = true;
    out.fv.clear();
    for (double d : x.fv) {
      if (!(std::fabs(d) < 9.2e18)) throw Error("cannot cast " + std::to_string(d) + " to an integer");
      out.iv.push_back(int64_t(d));
    }
  } else if (!to_integer && x.integer) {
    out.integer = false;
    out.iv.clear();
    for (int64_t v : x.iv) out.fv.push_back(double(v));
  }
  return out;
}

Tensor reshape(const Tensor& x, std::vector<int64_t> shape, bool allow_zero) {
  int64_t known = 1, total = int64_t(x.size());
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allow_zero) {
      if (i >= x.dims.size()) throw Error("0 in shape has no input axis");
      shape[i] = x.dims[i];
    }
    if (shape[i] == -1) {
      if (infer >= 0) throw Error("more than one -1 in shape");
      infer = int(i);
    } else if (shape[i] < 0 || shape[i] > kMaxFolded) {
      throw Error("invalid shape " + dims_str(shape));
    } else {
      known *= shape[i];
      if (known > kMaxFolded) throw Error("invalid shape " + dims_str(shape));
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known) throw Error("cannot infer -1 in shape");
    shape[size_t(infer)] = total / known;
  } else if (known != total) {
    throw Error("shape " + dims_str(shape) + " does not match " + std::to_string(total) + " elements");
  }
  Tensor out = x;
  out.dims = shape;
  return out;
}

Tensor squeeze(const Tensor& x, const std::vector<int64_t>& axes) {
  std::set<int> drop;
  for (int64_t a : axes) drop.insert(norm_axis(a, x.dims.size()));
  Tensor out = x;
  out.dims.clear();
  for (size_t i = 0; i < x.dims.size(); ++i) {
    const bool d = axes.empty() ? x.dims[i] == 1 : drop.count(int(i)) > 0;
    if (d && x.dims[i] != 1) throw Error("cannot squeeze an axis of size " + std::to_string(x.dims[i]));
    if (!d) out.dims.push_back(x.dims[i]);
  }
  return out;
}

Tensor unsqueeze(const Tensor& x, const std::vector<int64_t>& axes) {
  const size_t rank = x.dims.size() + axes.size();
  if (rank > 8) throw Error("rank too large");
  std::set<int> ins;
  for (int64_t a : axes) ins.insert(norm_axis(a, rank));
  if (ins.size() != axes.size()) throw Error("duplicate axes");
  Tensor out = x;
  out.dims.clear();
  size_t src = 0;
  for (size_t i = 0; i < rank; ++i) out.dims.push_back(ins.count(int(i)) ? 1 : x.dims[src++]);
  return out;
}

Tensor transpose(const Tensor& x, std::vector<int64_t> perm) {
  if (perm.empty())
    for (size_t i = x.dims.size(); i-- > 0;) perm.push_back(int64_t(i));
  if (perm.size() != x.dims.size()) throw Error("perm does not match the rank");
  std::vector<int64_t> dims(perm.size());
  std::vector<bool> seen(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= int64_t(perm.size()) || seen[size_t(perm[i])]) throw Error("invalid perm");
    seen[size_t(perm[i])] = true;
    dims[i] = x.dims[size_t(perm[i])];
  }
  const auto is = strides_of(x.dims);
  std::vector<int64_t> step(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) step[i] = is[size_t(perm[i])];
  return gather_elements(x, dims, walk(dims, 0, step));
}

Tensor slice(const Tensor& x, const std::vector<int64_t>& starts,
             const std::vector<int64_t>& ends, std::vector<int64_t> axes,
             std::vector<int64_t> steps) {
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw Error("starts/ends/axes/steps sizes differ");
  const size_t rank = x.dims.size();
  std::vector<int64_t> b(rank, 0), st(rank, 1), dims = x.dims;
  for (size_t k = 0; k < starts.size(); ++k) {
    const int a = norm_axis(axes[k], rank);
    const int64_t d = x.dims[size_t(a)], step = steps[k];
    if (step == 0) throw Error("slice step 0");
    int64_t s0 = starts[k], e0 = ends[k];
    if (s0 < 0) s0 = s0 < -d ? -1 : s0 + d;  // -1 marks "before the start" for clamping
    if (e0 < 0) e0 = e0 < -d ? -1 : e0 + d;
    int64_t len;
    if (step > 0) {
      s0 = std::clamp<int64_t>(s0, 0, d);
      e0 = std::clamp<int64_t>(e0, 0, d);
      len = e0 > s0 ? (e0 - s0 + step - 1) / step : 0;
    } else {
      s0 = std::clamp<int64_t>(s0, -1, d - 1);
      e0 = std::clamp<int64_t>(e0, -1, d - 1);
      len = s0 > e0 ? (s0 - e0 + (-step) - 1) / (-step) : 0;
    }
    b[size_t(a)] = s0;
    // With one element or none the step is never taken; a file's huge step must not
    // overflow step * stride below (with two or more, |step| < d keeps it in range).
    st[size_t(a)] = len > 1 ? step : 1;
    dims[size_t(a)] = len;
  }
  const auto is = strides_of(x.dims);
  int64_t base = 0;
  std::vector<int64_t> step(rank);
  for (size_t i = 0; i < rank; ++i) {
    base += b[i] * is[i];
    step[i] = st[i] * is[i];
  }
  return gather_elements(x, dims, walk(dims, base, step));
}

Tensor concat(const std::vector<Tensor>& in, int64_t axis) {
  const Tensor& x = in.at(0);
  const size_t rank = x.dims.size();
  if (rank == 0) throw Error("cannot concatenate scalars");
  const int a = norm_axis(axis, rank);
  std::vector<int64_t> dims = x.dims;
  dims[size_t(a)] = 0;
  for (const Tensor& t : in) {
    if (t.dims.size() != rank || t.integer != x.integer) throw Error("inputs disagree in rank or type");
    for (size_t i = 0; i < rank; ++i)
      if (int(i) != a && t.dims[i] != x.dims[i]) throw Error("inputs disagree in shape");
    dims[size_t(a)] += t.dims[size_t(a)];
  }
  count_of(dims);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.dims[size_t(i)];
  for (size_t i = size_t(a) + 1; i < rank; ++i) inner *= x.dims[i];
  Tensor out;
  out.dims = dims;
  out.integer = x.integer;
  for (int64_t o = 0; o < outer; ++o)
    for (const Tensor& t : in) {
      const int64_t chunk = t.dims[size_t(a)] * inner;
      for (int64_t k = 0; k < chunk; ++k) {
        if (t.integer) out.iv.push_back(t.iv[size_t(o * chunk + k)]);
        else out.fv.push_back(t.fv[size_t(o * chunk + k)]);
      }
    }
  return out;
}

Tensor gather(const Tensor& x, const Tensor& indices, int64_t axis) {
  if (!indices.integer) throw Error("indices must be integer");
  const size_t rank = x.dims.size();
  if (rank == 0) throw Error("cannot gather from a scalar");
  const int a = norm_axis(axis, rank);
  const int64_t d = x.dims[size_t(a)];
  std::vector<int64_t> dims(x.dims.begin(), x.dims.begin() + a);
  dims.insert(dims.end(), indices.dims.begin(), indices.dims.end());
  dims.insert(dims.end(), x.dims.begin() + a + 1, x.dims.end());
  count_of(dims);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.dims[size_t(i)];
  for (size_t i = size_t(a) + 1; i < rank; ++i) inner *= x.dims[i];
  std::vector<size_t> src;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j : indices.iv) {
      if (j < -d || j >= d) throw Error("gather index " + std::to_string(j) + " out of range");
      const int64_t jj = j < 0 ? j + d : j;
      for (int64_t k = 0; k < inner; ++k) src.push_back(size_t((o * d + jj) * inner + k));
    }
  return gather_elements(x, dims, src);
}

}  // namespace mnv2::const_eval
