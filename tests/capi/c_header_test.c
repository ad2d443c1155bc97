/* Compiled as C (C99, -Wall -Wextra -Wpedantic -Werror): the public C header must be plain C.
 * gc_c_smoke() runs a small conversation through the C API and returns 0 on success or the
 * number of the first failed step; capi_test.cpp calls it. */
#include <string.h>

#include "groupconv/groupconv.h"

int gc_c_smoke(char* message, size_t message_size);

int gc_c_smoke(char* message, size_t message_size) {
  char text[512];
  gc_error err = {0, NULL, 0, 0};
  gc_conv_desc desc;
  int64_t in[4] = {1, 28, 28, 33};
  int64_t w[4] = {3, 3, 8, 16};
  gc_shapes shapes;
  gc_geometry g;
  float x[2 * 3 * 3 * 2];
  float filter[2 * 2 * 1 * 2] = {1, 1, 1, 0, 1, 0, 1, -1};
  float y[2 * 2 * 2 * 2];
  int64_t in2[4] = {2, 3, 3, 2};
  int64_t w2[4] = {2, 2, 1, 2};
  gc_plan* plan = NULL;
  int i;

  err.text = text;
  err.text_size = sizeof text;
  memset(&desc, 0, sizeof desc);
  desc.groups = 4;
  shapes.input = in;
  shapes.input_rank = 4;
  shapes.filter = w;
  shapes.filter_rank = 4;
  shapes.bias = NULL;
  shapes.bias_rank = 0;

  /* 1: the SPEC example is refused with GC001. */
  if (gc_check(&desc, &shapes, &g, &err) != GC_INVALID || err.code != 1) return 1;
  if (strstr(text, "GC001") == NULL || strstr(text, "36") == NULL) return 2;
  if (message != NULL && message_size > 0) {
    strncpy(message, text, message_size - 1);
    message[message_size - 1] = '\0';
  }

  /* 3: 32 channels resolve: [1, 26, 26, 16]. */
  in[3] = 32;
  if (gc_check(&desc, &shapes, &g, &err) != GC_OK || err.code != 0) return 3;
  if (g.output_shape[1] != 26 || g.output_shape[3] != 16 || g.cog != 4) return 4;

  /* 5: a plan on a tiny grouped problem, executed twice, matches the reference. */
  for (i = 0; i < 36; ++i) x[i] = (float)(i % 7) - 3.0f;
  shapes.input = in2;
  shapes.filter = w2;
  desc.groups = 2;
  if (gc_plan_create(&desc, &shapes, filter, NULL, NULL, &plan, &err) != GC_OK) return 5;
  if (gc_plan_execute(plan, x, y, &err) != GC_OK) return 6;
  {
    float want[16];
    if (gc_reference_conv2d(&desc, &shapes, x, filter, NULL, want, &err) != GC_OK) return 7;
    for (i = 0; i < 16; ++i) {
      if (y[i] - want[i] > 1e-5f || want[i] - y[i] > 1e-5f) return 8;
    }
  }
  if (gc_plan_kernel_name(plan)[0] == '\0') return 9;
  gc_plan_destroy(plan);
  gc_plan_destroy(NULL);

  /* 10: NULL error pointer and NULL descriptor never crash. */
  if (gc_check(NULL, &shapes, NULL, NULL) != GC_INVALID) return 10;
  if (strcmp(gc_status_string(GC_INVALID), "invalid input") != 0) return 11;
  return 0;
}
