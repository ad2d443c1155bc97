/* groupconv C API: grouped 2-D convolution from C, ctypes/cffi or any FFI.
 *
 * Every function returns a status and never throws, aborts or prints:
 *   GC_OK (0)         success
 *   GC_INTERNAL (1)   internal error or out of memory (the CLI's exit status 1)
 *   GC_INVALID (2)    invalid shapes, options or pointers (the CLI's exit status 2); the
 *                     diagnostic says which rule failed and how to fix it.
 * Errors fill a caller-owned gc_error (pass NULL when not interested):
 *
 *   char text[2048];
 *   gc_error err = {0, text, sizeof text, 0};
 *   gc_conv_desc desc = {0};                    // NHWC, HWIO, stride 1, VALID, groups inferred
 *   desc.groups = 4;
 *   int64_t in[4] = {1, 28, 28, 33}, w[4] = {3, 3, 8, 16};
 *   gc_shapes shapes = {in, 4, w, 4, NULL, 0};
 *   gc_geometry g;
 *   if (gc_check(&desc, &shapes, &g, &err) != GC_OK) fprintf(stderr, "%s", text);  // GC001
 *
 * A zero-initialised gc_conv_desc is the default convolution (see the field comments), so
 * new fields can only ever be appended with 0 meaning "as before".
 * The numeric codes in gc_error.code are the stable GC codes of docs/DIAGNOSTICS.md
 * (3 = GC003). */
#ifndef GROUPCONV_GROUPCONV_H_
#define GROUPCONV_GROUPCONV_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { GC_OK = 0, GC_INTERNAL = 1, GC_INVALID = 2 };

enum { GC_NHWC = 0, GC_NCHW = 1 };                                      /* data_format */
enum { GC_HWIO = 0, GC_OIHW = 1 };                                      /* filter_format */
enum { GC_VALID = 0, GC_SAME = 1, GC_SAME_LOWER = 2, GC_EXPLICIT = 3 }; /* padding */
enum { GC_ISA_BEST = 0, GC_ISA_PORTABLE = 1, GC_ISA_AVX2 = 2, GC_ISA_AVX512 = 3 };

/* A C header: typedef, not `using` (clang-tidy's C++ check does not apply). */
/* NOLINTBEGIN(modernize-use-using) */
typedef struct gc_conv_desc {
  int32_t data_format;   /* GC_NHWC (0) or GC_NCHW */
  int32_t filter_format; /* GC_HWIO (0) or GC_OIHW */
  int32_t padding;       /* GC_VALID (0), GC_SAME, GC_SAME_LOWER, GC_EXPLICIT */
  int32_t num_strides;   /* 0 (= stride 1), 1, 2 (h, w) or 4 (TF's 4-list in data_format order) */
  int64_t strides[4];
  int32_t num_dilations; /* 0 (= dilation 1), 1, 2 or 4, as num_strides */
  int32_t reserved0;     /* must be 0 */
  int64_t dilations[4];
  int64_t pads[4]; /* top, bottom, left, right; used with GC_EXPLICIT */
  int64_t groups;  /* 0: inferred as C_in / filter in-channels (tf.nn.conv2d); < 0: refused */
  int64_t expect_output_channels; /* 0: no expectation; else the filter must give this C_out */
} gc_conv_desc;

/* Shapes in the layouts named by the descriptor. bias == NULL means no bias. */
typedef struct gc_shapes {
  const int64_t* input;
  int32_t input_rank;
  const int64_t* filter;
  int32_t filter_rank;
  const int64_t* bias;
  int32_t bias_rank;
} gc_shapes;

/* Every derived number of a valid convolution. */
typedef struct gc_geometry {
  int64_t n, h, w, c_in, c_out;
  int64_t groups, cig, cog; /* G, C_in / G, C_out / G */
  int64_t kh, kw, sh, sw, dh, dw;
  int64_t pad_top, pad_bottom, pad_left, pad_right;
  int64_t ho, wo;
  int64_t output_shape[4]; /* in data_format order */
  int64_t input_elements, filter_elements, output_elements;
  int64_t flops; /* 2 * N * Ho * Wo * C_out * C_in/G * KH * KW */
  int64_t bytes; /* float32 input + filter + bias + output */
  int32_t groups_inferred;
  int32_t has_bias;
} gc_geometry;

/* A caller-owned diagnostic. `text` (may be NULL) receives the rendered diagnostic, truncated
 * to text_size - 1 bytes and always NUL-terminated when text_size > 0; `needed` receives the
 * full length + 1, so a caller can retry with a bigger buffer. code = 0 on success. */
typedef struct gc_error {
  int32_t code;
  char* text;
  size_t text_size;
  size_t needed;
} gc_error;

typedef struct gc_plan_options {
  int32_t threads;          /* 0: all cores (or GROUPCONV_NUM_THREADS) */
  int32_t max_isa;          /* GC_ISA_BEST (0), GC_ISA_PORTABLE, GC_ISA_AVX2, GC_ISA_AVX512 */
  const char* force_kernel; /* NULL, or the name of the kernel to use */
} gc_plan_options;

typedef struct gc_plan gc_plan;
/* NOLINTEND(modernize-use-using) */

/* "0.1.0" */
const char* gc_version(void);

/* "ok", "internal error", "invalid input", or "unknown status". */
const char* gc_status_string(int status);

/* Validates and resolves; fills *geometry (may be NULL) on success. No allocation of tensor
 * memory, no work. */
int gc_check(const gc_conv_desc* desc, const gc_shapes* shapes, gc_geometry* geometry,
             gc_error* error);

/* One-shot convolution: validate, plan, run. x, filter, y in the descriptor's layouts;
 * bias may be NULL exactly when shapes->bias is NULL. threads: 0 = all cores. */
int gc_conv2d(const gc_conv_desc* desc, const gc_shapes* shapes, const float* x,
              const float* filter, const float* bias, float* y, int32_t threads, gc_error* error);

/* The double-accumulating reference (slow; for testing other implementations). */
int gc_reference_conv2d(const gc_conv_desc* desc, const gc_shapes* shapes, const float* x,
                        const float* filter, const float* bias, float* y, gc_error* error);

/* Plan once (validate, choose a kernel, pack the filter), execute many times without
 * allocating. *plan is set to NULL on failure. options may be NULL. A plan is used by one
 * thread at a time. */
int gc_plan_create(const gc_conv_desc* desc, const gc_shapes* shapes, const float* filter,
                   const float* bias, const gc_plan_options* options, gc_plan** plan,
                   gc_error* error);
int gc_plan_execute(gc_plan* plan, const float* x, float* y, gc_error* error);
int gc_plan_geometry(const gc_plan* plan, gc_geometry* geometry, gc_error* error);
/* The chosen kernel's name, owned by the plan; "" for NULL. */
const char* gc_plan_kernel_name(const gc_plan* plan);
/* NULL is allowed. */
void gc_plan_destroy(gc_plan* plan);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GROUPCONV_GROUPCONV_H_ */
