#pragma once

// Test files include "support/catch.hpp" and get Catch2, whichever major
// version CMake found (it defines MEMLOG_CATCH2_V3 for v3).
#if defined(MEMLOG_CATCH2_V3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
