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

# memlog_existing_sources(<out-var> <glob> <name>...)
#
# Sets <out-var> to the <name>s whose <name>.cpp exists in the current source
# directory, so the build works while sources are still being written. The
# glob is re-checked at build time (CONFIGURE_DEPENDS): adding a file re-runs
# CMake, and a file matching <glob> that no <name> lists gets a warning
# instead of being skipped silently.
function(memlog_existing_sources out glob)
  file(GLOB present RELATIVE "${CMAKE_CURRENT_SOURCE_DIR}" CONFIGURE_DEPENDS
    "${CMAKE_CURRENT_SOURCE_DIR}/${glob}")
  set(found "")
  foreach(name IN LISTS ARGN)
    if("${name}.cpp" IN_LIST present)
      list(APPEND found ${name})
      list(REMOVE_ITEM present "${name}.cpp")
    endif()
  endforeach()
  file(RELATIVE_PATH dir "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_SOURCE_DIR}")
  foreach(file IN LISTS present)
    message(AUTHOR_WARNING
      "${dir}/${file} is not built: add it to the list in ${dir}/CMakeLists.txt")
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
