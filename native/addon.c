/*
 * The N-API glue of the native backend (src/backend/native.ts):
 *   create(args: Float64Array, threads, isa) -> run()   a backend context; run() executes the
 *        op written in args (ops.h) and returns nothing (results in args[1]); args[1] is set to
 *        the threads that started. The context (and its pool) ends with run's finalizer.
 *   address(buffer: ArrayBuffer) -> number               where the buffer's bytes are
 *   bestIsa() -> 0 | 1 | 2                               gemm.h's CRN_ISA_* for this CPU
 * Pointers travel as numbers (x86-64 and arm64 user addresses are < 2^53).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include "gemm.h"
#include "ops.h"

extern const crn_kernels crn_kernels_plain;
#if defined(__x86_64__)
extern const crn_kernels crn_kernels_avx2;
extern const crn_kernels crn_kernels_avx512;
#endif

const crn_kernels *crn_kernels_for(int isa) {
#if defined(__x86_64__)
  if (isa == CRN_ISA_AVX512) return &crn_kernels_avx512;
  if (isa == CRN_ISA_AVX2) return &crn_kernels_avx2;
#endif
  (void)isa;
  return &crn_kernels_plain;
}

typedef struct {
  crn_ctx ctx;
  napi_ref args_ref; /* keeps the args array alive while the context is */
} holder;

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value run(napi_env env, napi_callback_info info) {
  holder *h;
  size_t argc = 0;
  napi_get_cb_info(env, info, &argc, NULL, NULL, (void **)&h);
  int rc = crn_run(&h->ctx);
  if (rc == -1) return throw_msg(env, "native backend: out of memory for a reduction's scratch");
  if (rc != 0) return throw_msg(env, "native backend: unknown op (the addon and native-abi.ts disagree: rebuild with npm run build:native)");
  return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  holder *h = data;
  crn_pool_stop(h->ctx.pool);
  free(h->ctx.red);
  napi_delete_reference(env, h->args_ref);
  free(h);
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (argc < 3 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length < 32)
    return throw_msg(env, "native backend: create(args: Float64Array(32+), threads, isa)");
  int32_t threads, isa;
  napi_get_value_int32(env, argv[1], &threads);
  napi_get_value_int32(env, argv[2], &isa);
  if (isa < CRN_ISA_PLAIN || isa > crn_gemm_best_isa()) return throw_msg(env, "native backend: this CPU cannot run that isa");
  holder *h = calloc(1, sizeof *h);
  if (!h) return throw_msg(env, "native backend: out of memory");
  h->ctx.isa = isa;
  h->ctx.k = crn_kernels_for(isa);
  h->ctx.args = data;
  h->ctx.pool = crn_pool_start(threads);
  h->ctx.args[1] = crn_pool_threads(h->ctx.pool);
  napi_create_reference(env, argv[0], 1, &h->args_ref);
  napi_value fn;
  napi_create_function(env, "run", NAPI_AUTO_LENGTH, run, h, &fn);
  napi_add_finalizer(env, fn, h, finalize, NULL, NULL);
  return fn;
}

static napi_value address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  if (argc < 1 || napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok)
    return throw_msg(env, "native backend: address(buffer: ArrayBuffer)");
  napi_value out;
  napi_create_double(env, (double)(uintptr_t)data, &out);
  return out;
}

static napi_value best_isa(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_int32(env, crn_gemm_best_isa(), &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "address", NULL, address, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bestIsa", NULL, best_isa, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
