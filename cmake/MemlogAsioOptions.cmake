# memlog_asio_options(<target> <co_await macro>)
#
# What memlog's own programs that use the Asio adapters (tests, examples)
# need beyond memlog_target_options(), under Clang only:
# - Boost 1.74 and Asio 1.22 detect co_await under Clang only through
#   <experimental/coroutine>, which libstdc++ lacks: <co_await macro>=1
#   (BOOST_ASIO_HAS_CO_AWAIT or ASIO_HAS_CO_AWAIT) says it is there
#   (libstdc++'s <coroutine>). GCC needs nothing.
# - Clang 14's -fsanitize=function cannot compile coroutines ("Cannot
#   represent a difference across sections", LLVM issue 49689): turned off,
#   the rest of UBSan stays.
# Never applied to memlog::asio: a consumer's Boost configuration is the
# consumer's business.
function(memlog_asio_options target co_await_macro)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_definitions(${target} PRIVATE ${co_await_macro}=1)
    if(MEMLOG_SANITIZE MATCHES "(^|,)undefined(,|$)")
      target_compile_options(${target} PRIVATE -fno-sanitize=function)
    endif()
  endif()
endfunction()
