/*
 * malloc_trim(3) for Node.js (Node-API): gives the free pages of every glibc malloc arena back to
 * the kernel. Node never calls it; the memory that start-up, a finished worker or a burst of
 * requests freed stays in the arenas (RssAnon) until the same thread allocates again. Called by
 * src/memory/trim.ts.
 *
 * trim() → true when memory was released, false when there was none or the C library is not glibc
 * (musl and others have no malloc_trim; the call is then a no-op).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value js_trim(napi_env env, napi_callback_info info) {
  bool released = false;
#ifdef __GLIBC__
  released = malloc_trim(0) != 0;
#endif
  napi_value r;
  if (napi_get_boolean(env, released, &r) != napi_ok) return NULL;
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"trim", NULL, js_trim, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 1, props) != napi_ok) {
    napi_throw_error(env, NULL, "malloc trim: cannot define its exports");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
