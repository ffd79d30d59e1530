// flashmla — every operation's arguments (kept for code that included params.h before the per-operation
// headers existed).
#pragma once

#include "flashmla/decode.h"
