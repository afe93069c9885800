# memlog_target_options(<target>)
#
# Warnings and sanitizers for memlog's own executables (tests, examples,
# benchmarks). Never applied to the memlog INTERFACE target: a consumer's
# flags are the consumer's business.
function(memlog_target_options target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(MEMLOG_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      # Checks the MEMLOG_GUARDED_BY / MEMLOG_REQUIRES annotations
      # (detail/thread_annotations.hpp); GCC has no such analysis.
      target_compile_options(${target} PRIVATE -Wthread-safety -Wthread-safety-beta)
    endif()
    if(MEMLOG_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()

  if(MEMLOG_SANITIZE)
    set(flags -fsanitize=${MEMLOG_SANITIZE} -fno-omit-frame-pointer -g)
    if(MEMLOG_SANITIZE MATCHES "(^|,)undefined(,|$)")
      # Make UB fail the test instead of printing and carrying on.
      list(APPEND flags -fno-sanitize-recover=undefined)
    endif()
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} PRIVATE ${flags})
  endif()
endfunction()
