# ---- node: gridnode (issue 5) -- config, genesis, keys, mempool, consensus store, ----
# ---- block production, sync and the node's RPC ops                                ----
# glnodecore holds everything but the event loop's program, so unit tests and
# fuzz targets link it; gridnode adds the transport (glnet) and the RPC server
# (glrpc) when those parts are in the tree.
pkg_check_modules(GLNODE_EVENT REQUIRED IMPORTED_TARGET libevent)
find_package(Threads REQUIRED)

add_library(glnodecore STATIC
  ${CMAKE_SOURCE_DIR}/node/node_err.c
  ${CMAKE_SOURCE_DIR}/node/node_genesis.c
  ${CMAKE_SOURCE_DIR}/node/node_msg.c
  ${CMAKE_SOURCE_DIR}/node/node_store.c
  ${CMAKE_SOURCE_DIR}/node/node_mempool.c)
target_include_directories(glnodecore PUBLIC ${CMAKE_SOURCE_DIR}/node)
target_link_libraries(glnodecore PUBLIC glchain glcons PkgConfig::JANSSON PkgConfig::GLNODE_EVENT
                      PkgConfig::LMDB PkgConfig::SODIUM Threads::Threads)
target_compile_options(glnodecore PRIVATE ${GL_WARNINGS})

if(EXISTS ${CMAKE_SOURCE_DIR}/node/node_net.c)
  add_executable(gridnode ${CMAKE_SOURCE_DIR}/node/gridnode.c ${CMAKE_SOURCE_DIR}/node/node_run.c
                          ${CMAKE_SOURCE_DIR}/node/node_rpc.c)
  target_link_libraries(gridnode PRIVATE glnodecore glnet glmarket)
  target_compile_options(gridnode PRIVATE ${GL_WARNINGS})
  if(EXISTS ${CMAKE_SOURCE_DIR}/rpc/rpc_server.c)
    # glrpc is defined by cmake/rpc.cmake (included after this file): linked by name.
    target_compile_definitions(gridnode PRIVATE NODE_HAVE_RPC)
    target_link_libraries(gridnode PRIVATE glrpc)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/market/mkt_tx.c)
    target_include_directories(gridnode PRIVATE ${CMAKE_SOURCE_DIR}/market)
  endif()
endif()

foreach(t node_test_node_mempool node_test_node_genesis node_test_node_msg node_test_node_store fuzz_node_msg
          fuzz_node_genesis bench_node_load)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE glnodecore)
  endif()
endforeach()

# Integration tests: real gridnode processes on free loopback ports (below the
# ephemeral range), driven by python3 (tests/integration/nodenet.py).
find_program(GL_PYTHON3 python3)
if(TARGET gridnode AND GL_PYTHON3)
  set(GL_NODE_ITEST_ARGS --gridnode $<TARGET_FILE:gridnode> --load $<TARGET_FILE:bench_node_load>
                         --gridctl $<TARGET_FILE:gridctl>)
  foreach(engine raft pbft)
    foreach(t network crash lagging)
      add_test(NAME integration/node_${t}_${engine}
               COMMAND ${GL_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/test_node_${t}.py
                       --engine ${engine} ${GL_NODE_ITEST_ARGS})
      set_tests_properties(integration/node_${t}_${engine} PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
    endforeach()
  endforeach()
  # Services of a running node (issue 6): SSE and MQTT events (block, clearing,
  # settlement), /metrics through promtool, the shadow-centre API (recharge),
  # the accelerated demo clock.  The market transactions are gridctl's.
  foreach(engine raft pbft)
    add_test(NAME integration/node_services_${engine}
             COMMAND ${GL_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/test_node_services.py
                     --engine ${engine} ${GL_NODE_ITEST_ARGS})
    set_tests_properties(integration/node_services_${engine} PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
  endforeach()
  # Byzantine validators are a PBFT scenario: Raft assumes crash faults only.
  add_test(NAME integration/node_byzantine_pbft
           COMMAND ${GL_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/test_node_byzantine.py
                   --engine pbft ${GL_NODE_ITEST_ARGS})
  set_tests_properties(integration/node_byzantine_pbft PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
endif()
