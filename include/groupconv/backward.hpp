// Backward passes of the grouped convolution (training):
//   input gradient   dx = conv2d_backward_data(dy, w)
//   filter gradient  dw, db = conv2d_backward_filter(x, dy)
// Same descriptor, same validation and diagnostics as the forward (Shapes are the FORWARD
// shapes: input, filter, bias); dy must have exactly the forward output's shape, otherwise
// ShapeError with Code::kGradOutputShape names both shapes. Plans pack once and run many
// times without allocation; results are bit-identical for any thread count (the filter
// gradient reduces over N x Ho x Wo in a fixed order that does not depend on the split).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "groupconv/conv2d.hpp"
#include "groupconv/geometry.hpp"

namespace groupconv {

// Validates dy's shape against the forward output of (desc, shapes); returns the geometry.
Geometry resolve_backward(const ConvDesc& desc, const Shapes& shapes,
                          const std::vector<std::int64_t>& grad_output_shape);

class BackwardDataPlan {
 public:
  // filter in desc.filter_format; packed once here.
  BackwardDataPlan(const ConvDesc& desc, const Shapes& shapes,
                   const std::vector<std::int64_t>& grad_output_shape, const float* filter,
                   const PlanOptions& options = {});
  ~BackwardDataPlan();
  BackwardDataPlan(BackwardDataPlan&&) noexcept;
  BackwardDataPlan& operator=(BackwardDataPlan&&) noexcept;
  // dy: forward output layout; dx: forward input layout (overwritten).
  void execute(const float* dy, float* dx);
  [[nodiscard]] const Geometry& geometry() const;
  [[nodiscard]] const std::string& kernel_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class BackwardFilterPlan {
 public:
  BackwardFilterPlan(const ConvDesc& desc, const Shapes& shapes,
                     const std::vector<std::int64_t>& grad_output_shape,
                     const PlanOptions& options = {});
  ~BackwardFilterPlan();
  BackwardFilterPlan(BackwardFilterPlan&&) noexcept;
  BackwardFilterPlan& operator=(BackwardFilterPlan&&) noexcept;
  // x: forward input, dy: forward output gradient; dw in desc.filter_format (overwritten);
  // db: C_out values or nullptr (overwritten when given).
  void execute(const float* x, const float* dy, float* dw, float* db);
  [[nodiscard]] const Geometry& geometry() const;
  [[nodiscard]] const std::string& kernel_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot forms.
void conv2d_backward_data(const ConvDesc& desc, const Shapes& shapes,
                          const std::vector<std::int64_t>& grad_output_shape, const float* dy,
                          const float* filter, float* dx, const PlanOptions& options = {});
void conv2d_backward_filter(const ConvDesc& desc, const Shapes& shapes,
                            const std::vector<std::int64_t>& grad_output_shape, const float* x,
                            const float* dy, float* dw, float* db, const PlanOptions& options = {});

// Double-accumulating oracles, any layout (g's formats).
void reference_backward_data(const Geometry& g, const double* dy, const double* w, double* dx);
void reference_backward_filter(const Geometry& g, const double* x, const double* dy, double* dw,
                               double* db);
void reference_backward_data(const Geometry& g, const float* dy, const float* w, float* dx);
void reference_backward_filter(const Geometry& g, const float* x, const float* dy, float* dw,
                               float* db);

}  // namespace groupconv
