# Compiles one file (syntax only) and checks the outcome; run by ctest as
#   cmake -DCOMPILER=<c++> -DINCLUDE=<dir> -DSOURCE=<file> -DMODE=compile|fail
#         [-DFLAGS="<flags>"] [-DERROR_REGEX=<regex>] -P check_compile.cmake
# MODE=compile: the file must compile. MODE=fail: it must not, and some line
# of the compiler's output must match ERROR_REGEX, so that the test proves the
# intended error and not just any error (a typo, a missing header). In the
# regex, `\n` stands for a line break: `[^\n]*` keeps a match on one line.

foreach(var COMPILER INCLUDE SOURCE MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_compile.cmake: ${var} not set")
  endif()
endforeach()
if(MODE STREQUAL "fail" AND NOT DEFINED ERROR_REGEX)
  message(FATAL_ERROR "check_compile.cmake: MODE=fail needs ERROR_REGEX")
endif()

# Plain ASCII quotes in GCC's messages, whatever the caller's locale.
set(ENV{LC_ALL} C)
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
set(command "${COMPILER}" -std=c++20 -fsyntax-only -fdiagnostics-color=never ${flags} "-I${INCLUDE}" "${SOURCE}")
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
list(JOIN command " " command_line)

# The compiler's output goes out unformatted (FATAL_ERROR would rewrap it).
if(MODE STREQUAL "compile")
  if(NOT rc EQUAL 0)
    message("${command_line}\n${output}")
    message(FATAL_ERROR "must compile, but did not")
  endif()
elseif(MODE STREQUAL "fail")
  if(rc EQUAL 0)
    message("${command_line}\n${output}")
    message(FATAL_ERROR "must not compile, but did")
  endif()
  string(REPLACE "\\n" "\n" regex "${ERROR_REGEX}")
  if(NOT output MATCHES "${regex}")
    message("${command_line}\n${output}")
    message(FATAL_ERROR "failed, but without the expected error /${ERROR_REGEX}/")
  endif()
  message("failed as intended: ${CMAKE_MATCH_0}")
else()
  message(FATAL_ERROR "check_compile.cmake: MODE must be compile or fail, not '${MODE}'")
endif()
