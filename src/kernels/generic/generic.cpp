// The generic kernel: accepts every geometry. One task per output row; for each output pixel
// it accumulates all C_out channels in a scratch row, walking only the taps that fall inside
// the input, with the innermost loop over the output channels of a group (contiguous in both
// the HWIO filter and the NHWC output, so the compiler vectorises it for the baseline ISA).
#include <algorithm>
#include <cstring>
#include <vector>

#include "groupconv/reference.hpp"
#include "plan/aligned_buffer.hpp"
#include "plan/kernel.hpp"

namespace groupconv::detail {
namespace {

using i64 = std::int64_t;

class GenericKernel final : public Kernel {
 public:
  explicit GenericKernel(const KernelProblem& p) : g_(*p.g) {
    const auto count = static_cast<std::size_t>(g_.filter_elements());
    filter_.reset(count * sizeof(float));
    std::memcpy(filter_.data(), p.filter_hwio, count * sizeof(float));
    bias_.reset(static_cast<std::size_t>(g_.c_out) * sizeof(float));
    for (i64 c = 0; c < g_.c_out; ++c) bias_.floats()[c] = p.bias != nullptr ? p.bias[c] : 0.0f;
  }

  [[nodiscard]] std::string name() const override { return "generic_direct_portable"; }
  [[nodiscard]] i64 num_tasks() const override { return g_.n * g_.ho; }
  [[nodiscard]] std::size_t scratch_bytes() const override {
    return static_cast<std::size_t>(g_.c_out) * sizeof(float);
  }

  void run(const float* x, float* y, i64 begin, i64 end, void* scratch) const override {
    auto* acc = static_cast<float*>(scratch);
    const float* w = filter_.floats();
    for (i64 task = begin; task < end; ++task) {
      const i64 n = task / g_.ho;
      const i64 oh = task % g_.ho;
      const i64 ih0 = oh * g_.sh - g_.pad_top;
      for (i64 ow = 0; ow < g_.wo; ++ow) {
        std::copy_n(bias_.floats(), g_.c_out, acc);
        const i64 iw0 = ow * g_.sw - g_.pad_left;
        for (i64 kh = 0; kh < g_.kh; ++kh) {
          const i64 ih = ih0 + kh * g_.dh;
          if (ih < 0 || ih >= g_.h) continue;
          for (i64 kw = 0; kw < g_.kw; ++kw) {
            const i64 iw = iw0 + kw * g_.dw;
            if (iw < 0 || iw >= g_.w) continue;
            const float* xp = x + ((n * g_.h + ih) * g_.w + iw) * g_.c_in;
            const float* wp = w + (kh * g_.kw + kw) * g_.cig * g_.c_out;
            for (i64 gr = 0; gr < g_.groups; ++gr) {
              float* ap = acc + gr * g_.cog;
              for (i64 i = 0; i < g_.cig; ++i) {
                const float xv = xp[gr * g_.cig + i];
                const float* wr = wp + i * g_.c_out + gr * g_.cog;
                for (i64 o = 0; o < g_.cog; ++o) ap[o] += xv * wr[o];
              }
            }
          }
        }
        std::copy_n(acc, g_.c_out, y + ((n * g_.ho + oh) * g_.wo + ow) * g_.c_out);
      }
    }
  }

 private:
  Geometry g_;
  AlignedBuffer filter_;
  AlignedBuffer bias_;
};

// The oracle as a kernel of last resort (and for GROUPCONV_KERNEL=reference debugging).
class ReferenceKernel final : public Kernel {
 public:
  explicit ReferenceKernel(const KernelProblem& p)
      : g_(*p.g),
        filter_(p.filter_hwio, p.filter_hwio + g_.filter_elements()),
        bias_(p.bias != nullptr ? std::vector<float>(p.bias, p.bias + g_.c_out)
                                : std::vector<float>{}) {
    one_ = g_;
    one_.n = 1;
  }
  [[nodiscard]] std::string name() const override { return "reference_double"; }
  [[nodiscard]] i64 num_tasks() const override { return g_.n; }
  void run(const float* x, float* y, i64 begin, i64 end, void* /*scratch*/) const override {
    for (i64 n = begin; n < end; ++n) {
      reference_conv2d(one_, x + n * g_.h * g_.w * g_.c_in, filter_.data(),
                       bias_.empty() ? nullptr : bias_.data(), y + n * g_.ho * g_.wo * g_.c_out);
    }
  }

 private:
  Geometry g_;
  Geometry one_;
  std::vector<float> filter_;
  std::vector<float> bias_;
};

}  // namespace

std::unique_ptr<Kernel> make_generic_kernel(const KernelProblem& p, std::string* /*why_not*/) {
  return std::make_unique<GenericKernel>(p);
}

std::unique_ptr<Kernel> make_reference_kernel(const KernelProblem& p, std::string* /*why_not*/) {
  return std::make_unique<ReferenceKernel>(p);
}

}  // namespace groupconv::detail
