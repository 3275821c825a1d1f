{
  "targets": [
    {
      "target_name": "charrnn_native",
      "sources": [
        "addon.c", "ops.c", "pool.c", "gemm.c",
        "kernels_plain.c", "kernels_avx2.c", "kernels_avx512.c"
      ],
      "cflags_c": ["-std=c11", "-O3", "-fno-math-errno", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-O2", "-O0"],
      "libraries": ["-lpthread", "-lm"],
      "xcode_settings": { "OTHER_CFLAGS": ["-std=c11", "-O3", "-fno-math-errno"] }
    }
  ]
}
