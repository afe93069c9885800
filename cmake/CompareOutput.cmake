# cmake -DPROGRAM=<exe> -DEXPECTED=<file> [-DACTUAL=<file>] -P CompareOutput.cmake
#
# Runs PROGRAM and fails unless it exits with 0 and its stdout equals the
# contents of EXPECTED byte for byte. stderr is passed through. ACTUAL, if
# given, receives the output, for `diff -u EXPECTED ACTUAL`.

cmake_minimum_required(VERSION 3.21)

foreach(var PROGRAM EXPECTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "CompareOutput.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${EXPECTED}")
  message(FATAL_ERROR "expected output file ${EXPECTED} does not exist")
endif()

execute_process(
  COMMAND "${PROGRAM}"
  OUTPUT_VARIABLE actual
  RESULT_VARIABLE result)
if(DEFINED ACTUAL)
  file(WRITE "${ACTUAL}" "${actual}")
endif()
if(NOT result STREQUAL "0")
  message(FATAL_ERROR "${PROGRAM} failed (${result}); its output:\n${actual}")
endif()

file(READ "${EXPECTED}" expected)
if(actual STREQUAL expected)
  return()
endif()

# _memlog_pop_line(<text-var> <line-var> <state-var>): removes the first line
# from <text-var>. <state-var> is "eof" when there was no line left, "nl" when
# the line ended in a newline, "no-nl" when it was the unterminated last line.
function(_memlog_pop_line text_var line_var state_var)
  set(text "${${text_var}}")
  if(text STREQUAL "")
    set(${line_var} "" PARENT_SCOPE)
    set(${state_var} "eof" PARENT_SCOPE)
    return()
  endif()
  string(FIND "${text}" "\n" nl)
  if(nl EQUAL -1)
    set(${line_var} "${text}" PARENT_SCOPE)
    set(${text_var} "" PARENT_SCOPE)
    set(${state_var} "no-nl" PARENT_SCOPE)
  else()
    string(SUBSTRING "${text}" 0 ${nl} line)
    math(EXPR next "${nl} + 1")
    string(SUBSTRING "${text}" ${next} -1 rest)
    set(${line_var} "${line}" PARENT_SCOPE)
    set(${text_var} "${rest}" PARENT_SCOPE)
    set(${state_var} "nl" PARENT_SCOPE)
  endif()
endfunction()

function(_memlog_describe line state out_var)
  if(state STREQUAL "eof")
    set(${out_var} "(end of output)" PARENT_SCOPE)
  elseif(state STREQUAL "no-nl")
    set(${out_var} "${line}    (no newline at end)" PARENT_SCOPE)
  else()
    set(${out_var} "${line}" PARENT_SCOPE)
  endif()
endfunction()

# Find the first line that differs, and show it in context.
set(exp_rest "${expected}")
set(act_rest "${actual}")
set(lineno 0)
set(before3 "")
set(before2 "")
set(before1 "")
while(TRUE)
  math(EXPR lineno "${lineno} + 1")
  _memlog_pop_line(exp_rest exp_line exp_state)
  _memlog_pop_line(act_rest act_line act_state)
  if(NOT exp_line STREQUAL act_line OR NOT exp_state STREQUAL act_state)
    break()
  endif()
  # The last three equal lines, shown as context.
  set(before3 "${before2}")
  set(before2 "${before1}")
  set(before1 "   ${exp_line}\n")
endwhile()

_memlog_describe("${exp_line}" "${exp_state}" exp_text)
_memlog_describe("${act_line}" "${act_state}" act_text)
# Lines indented by spaces are printed verbatim by message().
set(hint "")
if(DEFINED ACTUAL)
  set(hint "\nFull comparison: diff -u ${EXPECTED} ${ACTUAL}")
endif()
message(FATAL_ERROR
  "output of ${PROGRAM} differs from ${EXPECTED} at line ${lineno}:\n"
  "  --- expected\n"
  "  +++ actual\n"
  "${before3}${before2}${before1}"
  "  -${exp_text}\n"
  "  +${act_text}\n"
  "${hint}")
