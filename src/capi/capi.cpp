// The C ABI (include/groupconv/groupconv.h): a thin, exception-free wrapper over the C++ API.
// Every entry point converts its arguments, calls the C++ API inside one try block and maps
// ShapeError -> GC_INVALID (with the diagnostic), anything else -> GC_INTERNAL. Nothing
// escapes: an exception crossing an extern "C" boundary would terminate the caller's process.
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "groupconv/conv2d.hpp"
#include "groupconv/diagnostics.hpp"
#include "groupconv/geometry.hpp"
#include "groupconv/groupconv.h"
#include "groupconv/reference.hpp"

struct gc_plan {
  groupconv::Plan plan;
};

namespace {

using groupconv::Code;
using groupconv::Diagnostic;
using groupconv::ShapeError;

constexpr std::int32_t kMaxRank = 64;  // ranks beyond this are refused before reading

void clear(gc_error* e) noexcept {
  if (e == nullptr) return;
  e->code = 0;
  e->needed = 1;
  if (e->text != nullptr && e->text_size > 0) e->text[0] = '\0';
}

void write_text(gc_error* e, const char* text, std::size_t len) noexcept {
  e->needed = len + 1;
  if (e->text == nullptr || e->text_size == 0) return;
  const std::size_t n = len < e->text_size - 1 ? len : e->text_size - 1;
  std::memcpy(e->text, text, n);
  e->text[n] = '\0';
}

int fail_with(gc_error* e, int status, int code, const char* text) noexcept {
  if (e != nullptr) {
    e->code = code;
    write_text(e, text, std::strlen(text));
  }
  return status;
}

int invalid(gc_error* e, const Diagnostic& d) noexcept {
  if (e == nullptr) return GC_INVALID;
  e->code = static_cast<std::int32_t>(d.code);
  try {
    const std::string text = d.render();
    write_text(e, text.data(), text.size());
  } catch (...) {  // out of memory while rendering: the summary line at least
    write_text(e, d.summary.data(), d.summary.size());
  }
  return GC_INVALID;
}

// Runs f() and maps every exception to a status. f returns nothing; success is GC_OK.
template <typename F>
int guarded(gc_error* e, F&& f) noexcept {
  clear(e);
  try {
    std::forward<F>(f)();
    return GC_OK;
  } catch (const ShapeError& s) {
    return invalid(e, s.diagnostic());
  } catch (const std::bad_alloc&) {
    return fail_with(e, GC_INTERNAL, 0, "error: out of memory\n");
  } catch (const std::exception& x) {
    try {
      const std::string text = std::string("internal error: ") + x.what() + "\n";
      if (e != nullptr) write_text(e, text.data(), text.size());
      return GC_INTERNAL;
    } catch (...) {
      return fail_with(e, GC_INTERNAL, 0, "internal error\n");
    }
  } catch (...) {
    return fail_with(e, GC_INTERNAL, 0, "internal error: unknown exception\n");
  }
}

[[noreturn]] void bad_argument(std::string summary, std::string expected, std::string found,
                               std::string help) {
  Diagnostic d;
  d.code = Code::kBadArgument;
  d.summary = std::move(summary);
  d.context.push_back("C API argument check");
  d.rule = d.summary;
  d.expected = std::move(expected);
  d.found = std::move(found);
  d.help = std::move(help);
  throw ShapeError(std::move(d));
}

std::vector<std::int64_t> dims(const int64_t* p, std::int32_t rank, const char* what) {
  if (rank < 0 || rank > kMaxRank) {
    bad_argument(std::string(what) + " rank must be between 0 and 64",
                 "0 <= " + std::string(what) + "_rank <= 64",
                 what + std::string("_rank = ") + std::to_string(rank),
                 "pass the number of entries of the shape array");
  }
  if (p == nullptr && rank > 0) {
    bad_argument(std::string(what) + " shape pointer is NULL",
                 "a pointer to " + std::to_string(rank) + " int64 values", "NULL",
                 "pass the shape array of the " + std::string(what));
  }
  return rank == 0 ? std::vector<std::int64_t>{} : std::vector<std::int64_t>(p, p + rank);
}

std::vector<std::int64_t> hw_list(std::int32_t count, const int64_t (&values)[4],
                                  const char* what) {
  if (count == 0) return {1};
  if (count < 0 || count > 4) {
    bad_argument(std::string("num_") + what + " must be 0, 1, 2 or 4",
                 std::string("num_") + what + " in {0, 1, 2, 4}",
                 std::string("num_") + what + " = " + std::to_string(count),
                 "0 means 1 in both dims; 1 value for both dims; 2 for (h, w); 4 for TF's list");
  }
  return std::vector<std::int64_t>(values, values + count);
}

void convert(const gc_conv_desc* desc, const gc_shapes* shapes, groupconv::ConvDesc* d,
             groupconv::Shapes* s) {
  if (desc == nullptr)
    bad_argument("desc is NULL", "a gc_conv_desc", "NULL",
                 "pass a zero-initialised gc_conv_desc for the defaults");
  if (shapes == nullptr)
    bad_argument("shapes is NULL", "a gc_shapes", "NULL", "pass the input and filter shapes");
  if (desc->data_format != GC_NHWC && desc->data_format != GC_NCHW) {
    bad_argument("unknown data_format", "GC_NHWC (0) or GC_NCHW (1)",
                 "data_format = " + std::to_string(desc->data_format), "use GC_NHWC or GC_NCHW");
  }
  if (desc->filter_format != GC_HWIO && desc->filter_format != GC_OIHW) {
    bad_argument("unknown filter_format", "GC_HWIO (0) or GC_OIHW (1)",
                 "filter_format = " + std::to_string(desc->filter_format),
                 "use GC_HWIO or GC_OIHW");
  }
  if (desc->padding < GC_VALID || desc->padding > GC_EXPLICIT) {
    bad_argument("unknown padding", "GC_VALID (0), GC_SAME, GC_SAME_LOWER or GC_EXPLICIT",
                 "padding = " + std::to_string(desc->padding), "use one of the GC_ padding values");
  }
  if (desc->reserved0 != 0) {
    bad_argument("reserved0 must be 0", "0", std::to_string(desc->reserved0),
                 "zero-initialise the gc_conv_desc");
  }
  d->data_format =
      desc->data_format == GC_NHWC ? groupconv::DataFormat::kNHWC : groupconv::DataFormat::kNCHW;
  d->filter_format = desc->filter_format == GC_HWIO ? groupconv::FilterFormat::kHWIO
                                                    : groupconv::FilterFormat::kOIHW;
  switch (desc->padding) {
    case GC_SAME:
      d->padding = groupconv::Padding::kSame;
      break;
    case GC_SAME_LOWER:
      d->padding = groupconv::Padding::kSameLower;
      break;
    case GC_EXPLICIT:
      d->padding = groupconv::Padding::kExplicit;
      break;
    default:
      d->padding = groupconv::Padding::kValid;
      break;
  }
  d->strides = hw_list(desc->num_strides, desc->strides, "strides");
  d->dilations = hw_list(desc->num_dilations, desc->dilations, "dilations");
  for (std::size_t i = 0; i < 4; ++i) d->explicit_pads[i] = desc->pads[i];
  if (desc->groups != 0) d->groups = desc->groups;
  if (desc->expect_output_channels != 0) d->expect_output_channels = desc->expect_output_channels;
  s->input = dims(shapes->input, shapes->input_rank, "input");
  s->filter = dims(shapes->filter, shapes->filter_rank, "filter");
  if (shapes->bias != nullptr) s->bias = dims(shapes->bias, shapes->bias_rank, "bias");
}

void fill(const groupconv::Geometry& g, gc_geometry* out) noexcept {
  if (out == nullptr) return;
  *out = gc_geometry{};
  out->n = g.n, out->h = g.h, out->w = g.w, out->c_in = g.c_in, out->c_out = g.c_out;
  out->groups = g.groups, out->cig = g.cig, out->cog = g.cog;
  out->kh = g.kh, out->kw = g.kw, out->sh = g.sh, out->sw = g.sw, out->dh = g.dh, out->dw = g.dw;
  out->pad_top = g.pad_top, out->pad_bottom = g.pad_bottom;
  out->pad_left = g.pad_left, out->pad_right = g.pad_right;
  out->ho = g.ho, out->wo = g.wo;
  const auto os = g.output_shape();
  for (std::size_t i = 0; i < 4; ++i) out->output_shape[i] = os[i];
  out->input_elements = g.input_elements();
  out->filter_elements = g.filter_elements();
  out->output_elements = g.output_elements();
  out->flops = g.flops();
  out->bytes = g.bytes();
  out->groups_inferred = g.groups_inferred ? 1 : 0;
  out->has_bias = g.has_bias ? 1 : 0;
}

groupconv::PlanOptions plan_options(const gc_plan_options* o) {
  groupconv::PlanOptions p;
  if (o == nullptr) return p;
  p.threads = o->threads;
  switch (o->max_isa) {
    case GC_ISA_BEST:
    case GC_ISA_AVX512:
      p.max_isa = groupconv::Isa::kAvx512;
      break;
    case GC_ISA_AVX2:
      p.max_isa = groupconv::Isa::kAvx2;
      break;
    case GC_ISA_PORTABLE:
      p.max_isa = groupconv::Isa::kPortable;
      break;
    default:
      bad_argument("unknown max_isa",
                   "GC_ISA_BEST (0), GC_ISA_PORTABLE, GC_ISA_AVX2, GC_ISA_AVX512",
                   "max_isa = " + std::to_string(o->max_isa), "use one of the GC_ISA_ values");
  }
  if (o->force_kernel != nullptr) p.force_kernel = std::string(o->force_kernel);
  return p;
}

void require_data(const void* p, std::int64_t elements, const char* what) {
  if (p == nullptr && elements > 0) {
    bad_argument(std::string(what) + " data is NULL",
                 "a pointer to " + std::to_string(elements) + " floats", "NULL",
                 std::string("pass the ") + what + " buffer");
  }
}

}  // namespace

extern "C" {

const char* gc_version(void) { return "0.1.0"; }

const char* gc_status_string(int status) {
  switch (status) {
    case GC_OK:
      return "ok";
    case GC_INTERNAL:
      return "internal error";
    case GC_INVALID:
      return "invalid input";
    default:
      return "unknown status";
  }
}

int gc_check(const gc_conv_desc* desc, const gc_shapes* shapes, gc_geometry* geometry,
             gc_error* error) {
  return guarded(error, [&] {
    groupconv::ConvDesc d;
    groupconv::Shapes s;
    convert(desc, shapes, &d, &s);
    fill(groupconv::resolve(d, s), geometry);
  });
}

int gc_conv2d(const gc_conv_desc* desc, const gc_shapes* shapes, const float* x,
              const float* filter, const float* bias, float* y, int32_t threads, gc_error* error) {
  return guarded(error, [&] {
    groupconv::ConvDesc d;
    groupconv::Shapes s;
    convert(desc, shapes, &d, &s);
    const groupconv::Geometry g = groupconv::resolve(d, s);
    require_data(x, g.input_elements(), "input");
    require_data(y, g.output_elements(), "output");
    groupconv::PlanOptions o;
    o.threads = threads;
    groupconv::conv2d(d, s, x, filter, bias, y, o);
  });
}

int gc_reference_conv2d(const gc_conv_desc* desc, const gc_shapes* shapes, const float* x,
                        const float* filter, const float* bias, float* y, gc_error* error) {
  return guarded(error, [&] {
    groupconv::ConvDesc d;
    groupconv::Shapes s;
    convert(desc, shapes, &d, &s);
    const groupconv::Geometry g = groupconv::resolve(d, s);
    require_data(x, g.input_elements(), "input");
    require_data(filter, g.filter_elements(), "filter");
    require_data(y, g.output_elements(), "output");
    if (g.has_bias != (bias != nullptr)) {
      bad_argument(bias == nullptr ? "bias shape given but bias data is NULL"
                                   : "bias data given but no bias shape",
                   "bias data exactly when shapes->bias is set",
                   bias == nullptr ? "bias = NULL" : "shapes->bias = NULL",
                   "pass both the bias shape and its data, or neither");
    }
    groupconv::reference_conv2d(g, x, filter, bias, y);
  });
}

int gc_plan_create(const gc_conv_desc* desc, const gc_shapes* shapes, const float* filter,
                   const float* bias, const gc_plan_options* options, gc_plan** plan,
                   gc_error* error) {
  if (plan != nullptr) *plan = nullptr;
  return guarded(error, [&] {
    if (plan == nullptr) {
      bad_argument("plan is NULL", "a gc_plan* to receive the plan", "NULL",
                   "pass the address of a gc_plan* variable");
    }
    groupconv::ConvDesc d;
    groupconv::Shapes s;
    convert(desc, shapes, &d, &s);
    const groupconv::PlanOptions o = plan_options(options);
    *plan = new gc_plan{groupconv::Plan(d, s, filter, bias, o)};
  });
}

int gc_plan_execute(gc_plan* plan, const float* x, float* y, gc_error* error) {
  return guarded(error, [&] {
    if (plan == nullptr) {
      bad_argument("plan is NULL", "a plan from gc_plan_create", "NULL",
                   "check the status of gc_plan_create");
    }
    plan->plan.execute(x, y);
  });
}

int gc_plan_geometry(const gc_plan* plan, gc_geometry* geometry, gc_error* error) {
  return guarded(error, [&] {
    if (plan == nullptr) {
      bad_argument("plan is NULL", "a plan from gc_plan_create", "NULL",
                   "check the status of gc_plan_create");
    }
    fill(plan->plan.geometry(), geometry);
  });
}

const char* gc_plan_kernel_name(const gc_plan* plan) {
  return plan == nullptr ? "" : plan->plan.kernel_name().c_str();
}

void gc_plan_destroy(gc_plan* plan) { delete plan; }

}  // extern "C"
