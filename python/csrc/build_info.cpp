// Build facts of the op library, for flash_mla.build_info() (python/flash_mla/_ops.py, through ctypes):
// "key=value" lines; the values come from CMake (python/csrc/CMakeLists.txt).
#include <cstdint>

#include "flashmla/flashmla.h"

#ifndef FLASHMLA_PY_BUILD_INFO
#define FLASHMLA_PY_BUILD_INFO ""
#endif

extern "C" __attribute__((visibility("default"))) const char* flash_mla_py_build_info() noexcept {
  return FLASHMLA_PY_BUILD_INFO;
}
