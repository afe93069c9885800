# cmake -DCXX=<compiler> -DINCLUDE_DIR=<include> -DWORK_DIR=<dir> -P check_macros.cmake
#
# Fails if including memlog's headers defines a macro whose name does not
# start with MEMLOG_, beyond what the standard headers memlog itself includes
# define. Preprocesses (-E -dM) two translation units:
#   memlog.cpp:   every header under INCLUDE_DIR/memlog but the adapters',
#                 memlog.hpp first;
#   baseline.cpp: the standard library headers those headers include, taken
#                 from their #include <...> lines (a non-standard header, e.g.
#                 <immintrin.h>, is left out, so its macros show).
# GCC and Clang only (-dM).

cmake_minimum_required(VERSION 3.21)

foreach(var CXX INCLUDE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_macros.cmake: -D${var}=... is required")
  endif()
endforeach()

# The C++20 standard library headers, <cxxx> C headers included.
set(standard_headers
  algorithm any array atomic barrier bit bitset cassert ccomplex cctype cerrno cfenv cfloat charconv
  chrono cinttypes ciso646 climits clocale cmath codecvt compare complex concepts condition_variable
  coroutine csetjmp csignal cstdalign cstdarg cstdbool cstddef cstdint cstdio cstdlib cstring ctgmath
  ctime cuchar cwchar cwctype deque exception execution filesystem format forward_list fstream
  functional future initializer_list iomanip ios iosfwd iostream istream iterator latch limits list
  locale map memory memory_resource mutex new numbers numeric optional ostream queue random ranges
  ratio regex scoped_allocator semaphore set shared_mutex source_location span sstream stack
  stdexcept stop_token streambuf string string_view strstream syncstream system_error thread tuple
  type_traits typeindex typeinfo unordered_map unordered_set utility valarray variant vector version)

file(GLOB_RECURSE headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/memlog/*.hpp")
# The adapters (Asio, Kafka, Redis) include their libraries' headers, whose
# macros are theirs; <memlog/memlog.hpp> and <memlog/sharded.hpp> never reach
# them, and the contract is about those.
list(FILTER headers EXCLUDE REGEX "^memlog/(asio|asio_standalone|kafka|redis)\\.hpp$")
list(FILTER headers EXCLUDE REGEX "^memlog/detail/(asio|kafka|redis)_[a-z_]+\\.hpp$")
list(SORT headers)
list(REMOVE_ITEM headers memlog/memlog.hpp)
set(memlog_tu "#include <memlog/memlog.hpp>\n")
set(included "")
foreach(header IN LISTS headers)
  string(APPEND memlog_tu "#include <${header}>\n")
  file(STRINGS "${INCLUDE_DIR}/${header}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*<")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*<([^>]+)>.*" "\\1" name "${line}")
    list(APPEND included "${name}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES included)
list(SORT included)

set(baseline_tu "")
set(non_standard "")
foreach(name IN LISTS included)
  if(name IN_LIST standard_headers)
    string(APPEND baseline_tu "#include <${name}>\n")
  else()
    list(APPEND non_standard "${name}")
  endif()
endforeach()

file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/memlog.cpp" "${memlog_tu}")
file(WRITE "${WORK_DIR}/baseline.cpp" "${baseline_tu}")

# The names of the macros defined at the end of `source`.
function(defined_macros source out)
  execute_process(
    COMMAND "${CXX}" -std=c++20 -E -dM "-I${INCLUDE_DIR}" "${source}"
    OUTPUT_FILE "${source}.macros"
    ERROR_VARIABLE errors
    RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${CXX} -E -dM ${source} failed:\n${errors}")
  endif()
  file(STRINGS "${source}.macros" names REGEX "^#define [A-Za-z_][A-Za-z0-9_]*")
  list(TRANSFORM names REPLACE "^#define ([A-Za-z_][A-Za-z0-9_]*).*" "\\1")
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

defined_macros("${WORK_DIR}/memlog.cpp" with_memlog)
defined_macros("${WORK_DIR}/baseline.cpp" with_standard)
list(LENGTH with_memlog memlog_count)
list(LENGTH with_standard standard_count)
if(standard_count EQUAL 0 OR memlog_count EQUAL 0)
  message(FATAL_ERROR "no macros read: the preprocessor output was not what this script expects")
endif()

set(leaked ${with_memlog})
list(REMOVE_ITEM leaked ${with_standard})
list(FILTER leaked EXCLUDE REGEX "^MEMLOG_")
list(REMOVE_DUPLICATES leaked)

list(LENGTH headers header_count)
math(EXPR header_count "${header_count} + 1")
message(STATUS "${CXX}: ${header_count} memlog headers; ${memlog_count} macros with them, "
               "${standard_count} with the standard headers they include")
if(non_standard)
  message(STATUS "non-standard headers included (their macros count as leaks): ${non_standard}")
endif()
if(leaked)
  list(SORT leaked)
  list(LENGTH leaked leaked_count)
  if(leaked_count GREATER 200)
    list(SUBLIST leaked 0 200 leaked)
    list(APPEND leaked "... (${leaked_count} in all)")
  endif()
  list(JOIN leaked "\n  " listing)
  message(FATAL_ERROR "memlog's headers define ${leaked_count} macros outside the MEMLOG_ prefix "
                      "(or pull in a header that does):\n  ${listing}")
endif()
