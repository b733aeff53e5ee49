# ---- bench_lemon: issue 4's market instances beside LEMON, same run (bench only) ----
# C++ for this one target, and only where Debian's liblemon-dev and a C++
# compiler are installed (make bench installs both, scripts/deps.d/lemon.bench);
# without them the build stays pure C and scripts/bench.d/20-market-lemon.sh
# says what is missing.
include(CheckLanguage)
check_language(CXX)
if(EXISTS /usr/include/lemon/list_graph.h AND CMAKE_CXX_COMPILER)
  enable_language(CXX)
  find_library(GL_LEMON_LIB lemon REQUIRED)
  add_executable(bench_lemon ${CMAKE_SOURCE_DIR}/tests/bench/bench_lemon.cpp
                             ${CMAKE_SOURCE_DIR}/tests/bench/market_ours.c)
  set_target_properties(bench_lemon PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                                               CXX_EXTENSIONS OFF)
  target_compile_options(bench_lemon PRIVATE
                         $<$<COMPILE_LANGUAGE:C>:${GL_WARNINGS}>
                         $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror -Wshadow -Wconversion
                                                   -Wno-maybe-uninitialized>)
  # (GCC 12 sees a false maybe-uninitialized inside LEMON's vectors.)
  target_link_libraries(bench_lemon PRIVATE gltestutil ${GL_LEMON_LIB})
endif()
