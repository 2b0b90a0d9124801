{
  "targets": [
    {
      "target_name": "tftp_dataplane",
      "sources": ["src/boot/tftp/native/dataplane.c"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lm", "-lpthread"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
