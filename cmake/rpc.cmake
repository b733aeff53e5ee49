# ---- rpc/: the JSON-RPC 2.0 server library (glrpc) and gridctl's client side ----
# glrpc: evhttp + jansson over committed chain state; gridnode links it.
# glclient: gridctl's blocking HTTP client and the light-client verifier
# (node_http_client.c, node_lightclient.c), shared with their tests.
pkg_check_modules(GLRPC_EVENT REQUIRED IMPORTED_TARGET libevent)
# MQTT publishing of events (Debian: libmosquitto-dev; scripts/deps.d/api.list).
pkg_check_modules(GLRPC_MOSQ REQUIRED IMPORTED_TARGET libmosquitto)
find_package(Threads REQUIRED)

file(GLOB GL_RPC_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/rpc/*.c)
add_library(glrpc STATIC ${GL_RPC_SRCS})
target_include_directories(glrpc PUBLIC ${CMAKE_SOURCE_DIR}/rpc)
target_link_libraries(glrpc PUBLIC glchain glcons glmarket PkgConfig::JANSSON PkgConfig::GLRPC_EVENT
                            PkgConfig::GLRPC_MOSQ Threads::Threads)
target_compile_options(glrpc PRIVATE ${GL_WARNINGS})

add_library(glclient STATIC ${CMAKE_SOURCE_DIR}/node/node_lightclient.c
                            ${CMAKE_SOURCE_DIR}/node/node_http_client.c)
target_include_directories(glclient PUBLIC ${CMAKE_SOURCE_DIR}/node)
target_link_libraries(glclient PUBLIC glchain glcons PkgConfig::JANSSON)
target_compile_options(glclient PRIVATE ${GL_WARNINGS})

target_link_libraries(gridctl PRIVATE glclient glrpc glchain glcons PkgConfig::JANSSON)

find_package(Threads REQUIRED)
if(TARGET rpc_test_rpc_server)
  # The server's event loop runs in a second thread; requests come from the first.
  target_link_libraries(rpc_test_rpc_server PRIVATE glrpc glclient PkgConfig::GLRPC_EVENT Threads::Threads)
  set_tests_properties(rpc/test_rpc_server PROPERTIES TIMEOUT 120)
endif()
if(TARGET node_test_node_lightclient)
  target_link_libraries(node_test_node_lightclient PRIVATE glclient glrpc)
endif()
if(TARGET fuzz_rpc_request)
  target_link_libraries(fuzz_rpc_request PRIVATE glrpc)
endif()

# gridctl against a real 4-validator testnet, both engines (python3 drives it,
# reusing tests/integration/nodenet.py; a tampering proxy checks the refusals).
find_program(GL_RPC_PYTHON3 python3)
if(GL_RPC_PYTHON3 AND TARGET gridnode AND TARGET bench_node_load)
  foreach(engine raft pbft)
    add_test(NAME integration/test_gridctl_${engine}
             COMMAND ${GL_RPC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/test_gridctl.py --engine ${engine}
                     --gridnode $<TARGET_FILE:gridnode> --load $<TARGET_FILE:bench_node_load>
                     --gridctl $<TARGET_FILE:gridctl>)
    set_tests_properties(integration/test_gridctl_${engine} PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
  endforeach()
endif()

# ---- the shadow-centre API, events and metrics (part "api") ----
if(TARGET rpc_test_rpc_shadow)
  target_link_libraries(rpc_test_rpc_shadow PRIVATE glrpc glclient PkgConfig::GLRPC_EVENT Threads::Threads)
  set_tests_properties(rpc/test_rpc_shadow PROPERTIES TIMEOUT 120)
endif()
if(TARGET fuzz_rpc_shadow_auth)
  target_link_libraries(fuzz_rpc_shadow_auth PRIVATE glrpc)
endif()
if(TARGET rpc_test_rpc_events)
  # Starts a real mosquitto broker and mosquitto_sub on a free loopback port,
  # and runs promtool: Debian's mosquitto, mosquitto-clients, prometheus.
  target_link_libraries(rpc_test_rpc_events PRIVATE glrpc glclient PkgConfig::GLRPC_EVENT Threads::Threads)
  set_tests_properties(rpc/test_rpc_events PROPERTIES TIMEOUT 120)
endif()
if(TARGET rpc_test_rpc_shadow AND TARGET gridctl)
  add_dependencies(rpc_test_rpc_shadow gridctl)
  target_compile_definitions(rpc_test_rpc_shadow PRIVATE GL_GRIDCTL="$<TARGET_FILE:gridctl>")
endif()
if(TARGET rpc_test_rpc_market)
  target_link_libraries(rpc_test_rpc_market PRIVATE glrpc)
endif()
if(TARGET rpc_test_rpc_settle)
  # Checks every answer with the light client's verifier (node_lc_check_state_json).
  target_link_libraries(rpc_test_rpc_settle PRIVATE glrpc glclient)
endif()
