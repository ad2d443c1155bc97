// groupconv._core: the thin C++ layer under the Python package.
//
// The Python layer (python/groupconv/*.py) parses the TensorFlow- and PyTorch-style
// arguments, turns every input into a float32, C-contiguous, aligned numpy array (zero-copy
// when it already is one) and calls the functions below with the normalised descriptor:
// strings for the formats and the padding mode, lists for strides and dilations. Everything
// here validates through groupconv::resolve() (the backward passes: resolve_backward(), which
// also checks dy's shape) with the GIL held, allocates the output (64-byte aligned, owned by the
// returned numpy array), then releases the GIL for planning and computing. groupconv::ShapeError
// becomes the Python exception groupconv.ShapeError (built by groupconv._errors so that the class
// lives in Python); std::bad_alloc becomes MemoryError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "groupconv/groupconv.hpp"

namespace py = pybind11;
namespace gc = groupconv;

namespace {

using i64 = std::int64_t;
using Dims = std::vector<i64>;
using Pads = std::array<i64, 4>;

[[noreturn]] void fail(gc::Code code, std::string summary, std::string help) {
  gc::Diagnostic d;
  d.code = code;
  d.summary = std::move(summary);
  d.help = std::move(help);
  throw gc::ShapeError(std::move(d));
}

gc::DataFormat parse_data_format(const std::string& s) {
  if (s == "NHWC") return gc::DataFormat::kNHWC;
  if (s == "NCHW") return gc::DataFormat::kNCHW;
  fail(gc::Code::kBadArgument, "data_format must be 'NHWC' or 'NCHW', got '" + s + "'",
       "pass data_format='NHWC' (TensorFlow) or 'NCHW' (PyTorch)");
}

gc::FilterFormat parse_filter_format(const std::string& s) {
  if (s == "HWIO") return gc::FilterFormat::kHWIO;
  if (s == "OIHW") return gc::FilterFormat::kOIHW;
  fail(gc::Code::kBadArgument, "filter_format must be 'HWIO' or 'OIHW', got '" + s + "'",
       "pass filter_format='HWIO' (TensorFlow, Keras) or 'OIHW' (PyTorch, ONNX)");
}

gc::Padding parse_padding(const std::string& s) {
  if (s == "VALID") return gc::Padding::kValid;
  if (s == "SAME") return gc::Padding::kSame;
  if (s == "SAME_LOWER") return gc::Padding::kSameLower;
  if (s == "EXPLICIT") return gc::Padding::kExplicit;
  fail(gc::Code::kBadArgument, "unknown padding mode '" + s + "'",
       "pass 'SAME', 'SAME_LOWER', 'VALID' or explicit pads");
}

// The descriptor as the Python layer normalised it.
struct Desc {
  gc::ConvDesc desc;
  int threads = 0;
};

Desc make_desc(const std::string& data_format, const std::string& filter_format, Dims strides,
               Dims dilations, const std::string& padding, const Pads& pads,
               std::optional<i64> groups, std::optional<i64> expect_output_channels, int threads) {
  Desc d;
  d.desc.data_format = parse_data_format(data_format);
  d.desc.filter_format = parse_filter_format(filter_format);
  d.desc.strides = std::move(strides);
  d.desc.dilations = std::move(dilations);
  d.desc.padding = parse_padding(padding);
  d.desc.explicit_pads = pads;
  d.desc.groups = groups;
  d.desc.expect_output_channels = expect_output_channels;
  d.threads = threads;
  return d;
}

Dims shape_of(const py::array& a) { return Dims(a.shape(), a.shape() + a.ndim()); }

// The Python layer hands over float32 (native byte order), C-contiguous, aligned arrays;
// anything else reaching this point is refused, never read wrongly.
const float* float_data(const py::array& a, const char* what) {
  const bool f32 = py::isinstance<py::array_t<float, py::array::c_style>>(a);
  const bool aligned = (a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) != 0;
  if (!f32 || !aligned) {
    fail(gc::Code::kDtype,
         std::string(what) + " must be a float32, C-contiguous, aligned array at this level",
         "call groupconv.conv2d / groupconv.nn.conv2d, which convert their inputs");
  }
  return static_cast<const float*>(a.data());
}

// A new float32 array of the given shape on 64-byte aligned memory (as frameworks allocate;
// the kernels' stores are fastest there), freed when the array dies.
py::array_t<float> new_array(const Dims& shape) {
  std::size_t count = 1;
  for (const i64 s : shape) count *= static_cast<std::size_t>(s);  // resolve() bounded it
  const std::size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  py::capsule owner(p, [](void* q) { std::free(q); });
  return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()),
                            static_cast<float*>(p), owner);
}

py::array_t<float> new_output(const std::array<i64, 4>& shape) {
  return new_array(Dims(shape.begin(), shape.end()));
}

// The outputs of a filter gradient: dw (filter shape) and, when asked for, db [C_out]
// (None otherwise; dbp is then nullptr).
struct FilterGrads {
  py::array_t<float> dw;
  py::object db = py::none();
  float* dbp = nullptr;
};

FilterGrads new_filter_grads(const gc::Geometry& g, bool bias_grad) {
  FilterGrads r{new_output(g.filter_shape())};
  if (bias_grad) {
    py::array_t<float> b = new_array(Dims{g.c_out});
    r.dbp = b.mutable_data();
    r.db = b;
  }
  return r;
}

// Plans are packed for one input shape; any other is refused before touching the data.
void check_planned_input(const py::array& x, const Dims& planned) {
  if (shape_of(x) != planned) {
    fail(gc::Code::kBadArgument,
         "input shape " + gc::shape_string(shape_of(x)) + " differs from the planned " +
             gc::shape_string(planned),
         "create a plan for this input shape");
  }
}

// Seconds on a monotonic clock, or on this thread's CPU-time clock (for single-threaded
// overhead measurements on a loaded machine: time spent descheduled is not counted).
double now_seconds(bool cpu_clock) {
  if (cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

py::tuple tuple4(const std::array<i64, 4>& a) { return py::make_tuple(a[0], a[1], a[2], a[3]); }

py::dict geometry_dict(const gc::Geometry& g) {
  py::dict d;
  d["data_format"] = gc::to_string(g.data_format);
  d["filter_format"] = gc::to_string(g.filter_format);
  d["input_shape"] = tuple4(g.input_shape());
  d["filter_shape"] = tuple4(g.filter_shape());
  d["output_shape"] = tuple4(g.output_shape());
  d["n"] = g.n;
  d["h"] = g.h;
  d["w"] = g.w;
  d["c_in"] = g.c_in;
  d["c_out"] = g.c_out;
  d["groups"] = g.groups;
  d["groups_inferred"] = g.groups_inferred;
  d["cig"] = g.cig;
  d["cog"] = g.cog;
  d["kh"] = g.kh;
  d["kw"] = g.kw;
  d["strides"] = py::make_tuple(g.sh, g.sw);
  d["dilations"] = py::make_tuple(g.dh, g.dw);
  d["pads"] = py::make_tuple(g.pad_top, g.pad_bottom, g.pad_left, g.pad_right);
  d["ho"] = g.ho;
  d["wo"] = g.wo;
  d["has_bias"] = g.has_bias;
  d["flops"] = g.flops();
  d["bytes"] = g.bytes();
  d["text"] = gc::describe(g);
  return d;
}

py::str utf8(const std::string& s) {
  return py::reinterpret_steal<py::str>(
      PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "replace"));
}

// Raises groupconv._errors.make_error(...)'s exception (ShapeError or its DTypeError
// subclass); falls back to a plain ValueError if that module cannot be reached.
void raise_shape_error(const gc::ShapeError& e) {
  const gc::Diagnostic& d = e.diagnostic();
  try {
    py::list context;
    for (const auto& line : d.context) context.append(utf8(line));
    py::object make = py::module_::import("groupconv._errors").attr("make_error");
    py::object exc =
        make(utf8(e.what()), gc::code_string(d.code), utf8(d.summary), context, utf8(d.rule),
             utf8(d.expected), utf8(d.found), utf8(d.help), utf8(d.repro));
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  } catch (py::error_already_set& inner) {
    inner.discard_as_unraisable("groupconv._core: building ShapeError");
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::exception&) {
    PyErr_SetString(PyExc_ValueError, e.what());
  }
}

// One convolution: validate, allocate the output, then plan and compute without the GIL.
py::array conv2d(const py::array& x, const py::array& w, const std::optional<py::array>& bias,
                 const Desc& d) {
  gc::Shapes shapes{shape_of(x), shape_of(w), std::nullopt};
  if (bias) shapes.bias = shape_of(*bias);
  const gc::Geometry g = gc::resolve(d.desc, shapes);
  const float* xp = float_data(x, "input");
  const float* wp = float_data(w, "filter");
  const float* bp = bias ? float_data(*bias, "bias") : nullptr;
  py::array_t<float> y = new_output(g.output_shape());
  float* yp = y.mutable_data();
  if (g.output_elements() > 0) {
    gc::PlanOptions options;
    options.threads = d.threads;
    py::gil_scoped_release release;
    gc::conv2d(d.desc, shapes, xp, wp, bp, yp, options);
  }
  return y;
}

// A plan for one input shape: the filter packed once, executed many times. execute() of one
// C++ plan must not run concurrently; the mutex (taken after the GIL is released) serialises
// Python threads sharing this object.
class PyPlan {
 public:
  PyPlan(const py::array& w, const std::optional<py::array>& bias, Dims input_shape, const Desc& d)
      : desc_(d) {
    shapes_ = gc::Shapes{std::move(input_shape), shape_of(w), std::nullopt};
    if (bias) shapes_.bias = shape_of(*bias);
    geometry_ = gc::resolve(desc_.desc, shapes_);
    const float* wp = float_data(w, "filter");
    const float* bp = bias ? float_data(*bias, "bias") : nullptr;
    if (geometry_.output_elements() == 0) {  // empty batch: nothing to plan or compute
      kernel_name_ = "none (empty output)";
      return;
    }
    gc::PlanOptions options;
    options.threads = desc_.threads;
    {
      py::gil_scoped_release release;
      plan_.emplace(desc_.desc, shapes_, wp, bp, options);
    }
    kernel_name_ = plan_->kernel_name();
  }

  py::array call(const py::array& x) {
    check_planned_input(x, shapes_.input);
    const float* xp = float_data(x, "input");
    py::array_t<float> y = new_output(geometry_.output_shape());
    float* yp = y.mutable_data();
    if (plan_) {
      py::gil_scoped_release release;
      const std::lock_guard<std::mutex> lock(mutex_);
      plan_->execute(xp, yp);
    }
    return y;
  }

  // Seconds per execute(), measured in C++ over `iters` calls into one output buffer
  // (the baseline of bench/python_overhead.py).
  double time_execute(const py::array& x, int iters, bool cpu_clock) {
    py::array y = call(x);
    const float* xp = float_data(x, "input");
    auto* yp = static_cast<float*>(y.mutable_data());
    if (!plan_ || iters <= 0) return 0.0;
    py::gil_scoped_release release;
    const std::lock_guard<std::mutex> lock(mutex_);
    const double t0 = now_seconds(cpu_clock);
    for (int i = 0; i < iters; ++i) plan_->execute(xp, yp);
    return (now_seconds(cpu_clock) - t0) / iters;
  }

  [[nodiscard]] py::tuple input_shape() const { return tuple4(geometry_.input_shape()); }
  [[nodiscard]] py::tuple output_shape() const { return tuple4(geometry_.output_shape()); }
  [[nodiscard]] const std::string& kernel_name() const { return kernel_name_; }
  [[nodiscard]] std::string selection_log() const { return plan_ ? plan_->selection_log() : ""; }
  [[nodiscard]] std::string isa() const { return plan_ ? gc::to_string(plan_->isa()) : "none"; }
  [[nodiscard]] int threads() const { return plan_ ? plan_->threads() : 0; }
  [[nodiscard]] py::dict geometry() const { return geometry_dict(geometry_); }

 private:
  Desc desc_;
  gc::Shapes shapes_;
  gc::Geometry geometry_;
  std::optional<gc::Plan> plan_;
  std::string kernel_name_;
  std::mutex mutex_;
};

// Seconds per one-shot groupconv::conv2d() (plan + execute), measured in C++.
double time_oneshot(const py::array& x, const py::array& w, const std::optional<py::array>& bias,
                    const Desc& d, int iters, bool cpu_clock) {
  gc::Shapes shapes{shape_of(x), shape_of(w), std::nullopt};
  if (bias) shapes.bias = shape_of(*bias);
  py::array y = conv2d(x, w, bias, d);
  const float* xp = float_data(x, "input");
  const float* wp = float_data(w, "filter");
  const float* bp = bias ? float_data(*bias, "bias") : nullptr;
  auto* yp = static_cast<float*>(y.mutable_data());
  if (iters <= 0) return 0.0;
  gc::PlanOptions options;
  options.threads = d.threads;
  py::gil_scoped_release release;
  const double t0 = now_seconds(cpu_clock);
  for (int i = 0; i < iters; ++i) gc::conv2d(d.desc, shapes, xp, wp, bp, yp, options);
  return (now_seconds(cpu_clock) - t0) / iters;
}

// ---- Backward passes (training) ---------------------------------------------------------
// Shapes are always the FORWARD ones (input, filter); dy must have the forward output's shape,
// which groupconv::resolve_backward() checks (GC018, naming both shapes) with the GIL held.

// dx = conv2d_backward_data(dy, w): dx has the forward input's shape (input_shape).
py::array conv2d_backward_data(const py::array& dy, const py::array& w, const Dims& input_shape,
                               const Desc& d) {
  const gc::Shapes shapes{input_shape, shape_of(w), std::nullopt};
  const Dims dy_shape = shape_of(dy);
  const gc::Geometry g = gc::resolve_backward(d.desc, shapes, dy_shape);
  const float* dyp = float_data(dy, "grad_output");
  const float* wp = float_data(w, "filter");
  py::array_t<float> dx = new_output(g.input_shape());
  float* dxp = dx.mutable_data();
  if (g.input_elements() > 0) {
    gc::PlanOptions options;
    options.threads = d.threads;
    py::gil_scoped_release release;
    gc::conv2d_backward_data(d.desc, shapes, dy_shape, dyp, wp, dxp, options);
  }
  return dx;
}

// (dw, db) = conv2d_backward_filter(x, dy): dw has filter_shape (desc's filter format); db is
// [C_out] when bias_grad, else None.
py::tuple conv2d_backward_filter(const py::array& x, const py::array& dy, const Dims& filter_shape,
                                 bool bias_grad, const Desc& d) {
  const gc::Shapes shapes{shape_of(x), filter_shape, std::nullopt};
  const Dims dy_shape = shape_of(dy);
  const gc::Geometry g = gc::resolve_backward(d.desc, shapes, dy_shape);
  const float* xp = float_data(x, "input");
  const float* dyp = float_data(dy, "grad_output");
  FilterGrads out = new_filter_grads(g, bias_grad);
  float* dwp = out.dw.mutable_data();
  gc::PlanOptions options;
  options.threads = d.threads;
  {
    py::gil_scoped_release release;
    gc::conv2d_backward_filter(d.desc, shapes, dy_shape, xp, dyp, dwp, out.dbp, options);
  }
  return py::make_tuple(out.dw, out.db);
}

// Plans of the two passes for one geometry: validated and (input gradient) filter-packed once,
// then executed many times. As PyPlan: execute() of one plan is serialised by a mutex taken
// after the GIL is released.
class PyBackwardDataPlan {
 public:
  PyBackwardDataPlan(const py::array& w, Dims input_shape, Dims grad_output_shape, const Desc& d)
      : desc_(d),
        shapes_{std::move(input_shape), shape_of(w), std::nullopt},
        dy_shape_(std::move(grad_output_shape)) {
    geometry_ = gc::resolve_backward(desc_.desc, shapes_, dy_shape_);
    const float* wp = float_data(w, "filter");
    gc::PlanOptions options;
    options.threads = desc_.threads;
    py::gil_scoped_release release;
    plan_.emplace(desc_.desc, shapes_, dy_shape_, wp, options);
  }

  py::array call(const py::array& dy) {
    if (shape_of(dy) != dy_shape_) (void)gc::resolve_backward(desc_.desc, shapes_, shape_of(dy));
    const float* dyp = float_data(dy, "grad_output");
    py::array_t<float> dx = new_output(geometry_.input_shape());
    float* dxp = dx.mutable_data();
    py::gil_scoped_release release;
    const std::lock_guard<std::mutex> lock(mutex_);
    plan_->execute(dyp, dxp);
    return dx;
  }

  [[nodiscard]] py::tuple input_shape() const { return tuple4(geometry_.input_shape()); }
  [[nodiscard]] py::tuple grad_output_shape() const { return tuple4(geometry_.output_shape()); }
  [[nodiscard]] const std::string& kernel_name() const { return plan_->kernel_name(); }

 private:
  Desc desc_;
  gc::Shapes shapes_;
  Dims dy_shape_;
  gc::Geometry geometry_;
  std::optional<gc::BackwardDataPlan> plan_;
  std::mutex mutex_;
};

class PyBackwardFilterPlan {
 public:
  PyBackwardFilterPlan(Dims input_shape, Dims filter_shape, Dims grad_output_shape, const Desc& d)
      : desc_(d),
        shapes_{std::move(input_shape), std::move(filter_shape), std::nullopt},
        dy_shape_(std::move(grad_output_shape)) {
    geometry_ = gc::resolve_backward(desc_.desc, shapes_, dy_shape_);
    gc::PlanOptions options;
    options.threads = desc_.threads;
    py::gil_scoped_release release;
    plan_.emplace(desc_.desc, shapes_, dy_shape_, options);
  }

  py::tuple call(const py::array& x, const py::array& dy, bool bias_grad) {
    check_planned_input(x, shapes_.input);
    if (shape_of(dy) != dy_shape_) (void)gc::resolve_backward(desc_.desc, shapes_, shape_of(dy));
    const float* xp = float_data(x, "input");
    const float* dyp = float_data(dy, "grad_output");
    FilterGrads out = new_filter_grads(geometry_, bias_grad);
    float* dwp = out.dw.mutable_data();
    {
      py::gil_scoped_release release;
      const std::lock_guard<std::mutex> lock(mutex_);
      plan_->execute(xp, dyp, dwp, out.dbp);
    }
    return py::make_tuple(out.dw, out.db);
  }

  [[nodiscard]] py::tuple filter_shape() const { return tuple4(geometry_.filter_shape()); }
  [[nodiscard]] py::tuple grad_output_shape() const { return tuple4(geometry_.output_shape()); }
  [[nodiscard]] const std::string& kernel_name() const { return plan_->kernel_name(); }

 private:
  Desc desc_;
  gc::Shapes shapes_;
  Dims dy_shape_;
  gc::Geometry geometry_;
  std::optional<gc::BackwardFilterPlan> plan_;
  std::mutex mutex_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "groupconv's C++ core (use the groupconv package, not this module directly)";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const gc::ShapeError& e) {
      raise_shape_error(e);
    }
  });

  py::class_<Desc>(m, "Desc").def(
      py::init(&make_desc), py::arg("data_format"), py::arg("filter_format"), py::arg("strides"),
      py::arg("dilations"), py::arg("padding"), py::arg("pads"), py::arg("groups"),
      py::arg("expect_output_channels"), py::arg("threads"));

  m.def(
      "resolve",
      [](const Dims& input_shape, const Dims& filter_shape, const std::optional<Dims>& bias_shape,
         const Desc& d) {
        return geometry_dict(
            gc::resolve(d.desc, gc::Shapes{input_shape, filter_shape, bias_shape}));
      },
      py::arg("input_shape"), py::arg("filter_shape"), py::arg("bias_shape"), py::arg("desc"));

  m.def("conv2d", &conv2d, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("desc"));
  m.def("time_oneshot", &time_oneshot, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("desc"),
        py::arg("iters"), py::arg("cpu_clock") = false);

  m.def("conv2d_backward_data", &conv2d_backward_data, py::arg("dy"), py::arg("w"),
        py::arg("input_shape"), py::arg("desc"));
  m.def("conv2d_backward_filter", &conv2d_backward_filter, py::arg("x"), py::arg("dy"),
        py::arg("filter_shape"), py::arg("bias_grad"), py::arg("desc"));

  py::class_<PyBackwardDataPlan>(m, "BackwardDataPlan")
      .def(py::init<const py::array&, Dims, Dims, const Desc&>(), py::arg("w"),
           py::arg("input_shape"), py::arg("grad_output_shape"), py::arg("desc"))
      .def("__call__", &PyBackwardDataPlan::call, py::arg("dy"))
      .def_property_readonly("input_shape", &PyBackwardDataPlan::input_shape)
      .def_property_readonly("grad_output_shape", &PyBackwardDataPlan::grad_output_shape)
      .def_property_readonly("kernel_name", &PyBackwardDataPlan::kernel_name);

  py::class_<PyBackwardFilterPlan>(m, "BackwardFilterPlan")
      .def(py::init<Dims, Dims, Dims, const Desc&>(), py::arg("input_shape"),
           py::arg("filter_shape"), py::arg("grad_output_shape"), py::arg("desc"))
      .def("__call__", &PyBackwardFilterPlan::call, py::arg("x"), py::arg("dy"),
           py::arg("bias_grad"))
      .def_property_readonly("filter_shape", &PyBackwardFilterPlan::filter_shape)
      .def_property_readonly("grad_output_shape", &PyBackwardFilterPlan::grad_output_shape)
      .def_property_readonly("kernel_name", &PyBackwardFilterPlan::kernel_name);

  py::class_<PyPlan>(m, "Plan")
      .def(py::init<const py::array&, const std::optional<py::array>&, Dims, const Desc&>(),
           py::arg("w"), py::arg("bias"), py::arg("input_shape"), py::arg("desc"))
      .def("__call__", &PyPlan::call, py::arg("x"))
      .def("time_execute", &PyPlan::time_execute, py::arg("x"), py::arg("iters"),
           py::arg("cpu_clock") = false)
      .def_property_readonly("input_shape", &PyPlan::input_shape)
      .def_property_readonly("output_shape", &PyPlan::output_shape)
      .def_property_readonly("kernel_name", &PyPlan::kernel_name)
      .def_property_readonly("selection_log", &PyPlan::selection_log)
      .def_property_readonly("isa", &PyPlan::isa)
      .def_property_readonly("threads", &PyPlan::threads)
      .def_property_readonly("geometry", &PyPlan::geometry);

  m.def("default_threads", &gc::default_threads);
  m.def("detected_isa", [] { return std::string(gc::to_string(gc::detected_isa())); });
}
