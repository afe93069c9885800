#pragma once
// memlog: a thread-safe, append-only, in-memory log of records, read by
// offset, in batches, or as blocking streams. See README.md.

#include "errors.hpp"        // IWYU pragma: export
#include "log.hpp"           // IWYU pragma: export
#include "options.hpp"       // IWYU pragma: export
#include "record.hpp"        // IWYU pragma: export
#include "record_size.hpp"   // IWYU pragma: export
#include "record_view.hpp"   // IWYU pragma: export
#include "result.hpp"        // IWYU pragma: export
#include "sharded.hpp"       // IWYU pragma: export
#include "stream.hpp"        // IWYU pragma: export
