# ---- net: gridnode's P2P transport (node/node_net*.c) as library glnet ----
# libevent for sockets and timers, libsodium for the handshake and frames.
# node_net_proto.c is pure (no sockets), so the fuzz target reaches it directly.
pkg_check_modules(GLNET_EVENT REQUIRED IMPORTED_TARGET libevent)
file(GLOB GL_NET_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/node/node_net*.c)
add_library(glnet STATIC ${GL_NET_SRCS})
target_include_directories(glnet PUBLIC ${CMAKE_SOURCE_DIR}/node)
target_link_libraries(glnet PUBLIC PkgConfig::GLNET_EVENT PkgConfig::SODIUM)
target_compile_options(glnet PRIVATE ${GL_WARNINGS})

foreach(t node_test_node_net node_test_node_net_proto fuzz_node_net bench_node_net)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE glnet)
  endif()
endforeach()
if(TEST node/test_node_net)
  # Real loopback sockets and timers (backoff, handshake deadline): a few seconds.
  set_tests_properties(node/test_node_net PROPERTIES TIMEOUT 120)
endif()
