// The bf16 / fp16 conversions are header-only (src/common/numerics.h); this translation unit only makes
// sure the header compiles on its own in the host test library.
#include "common/numerics.h"
