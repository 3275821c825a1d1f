/* The kernels for any CPU: portable C (x86-64's baseline SSE2, or whatever the target has). */
#define KN(name) name##_plain
#include "kernels.inc"
