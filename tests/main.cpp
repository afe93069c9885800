// Catch2 v2's main(), compiled once into memlog_catch_main and shared by every
// test executable. (With Catch2 v3 the tests link Catch2::Catch2WithMain.)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
