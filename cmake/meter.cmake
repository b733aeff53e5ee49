# ---- meterbridge/: gridmeter, gridmeter-sim and their tests (issue 7) ----
pkg_check_modules(MODBUS REQUIRED IMPORTED_TARGET libmodbus)

set(GL_MB_SRCS ${CMAKE_SOURCE_DIR}/meterbridge/mb_err.c ${CMAKE_SOURCE_DIR}/meterbridge/mb_config.c
               ${CMAKE_SOURCE_DIR}/meterbridge/mb_slot.c ${CMAKE_SOURCE_DIR}/meterbridge/mb_reading.c
               ${CMAKE_SOURCE_DIR}/meterbridge/mb_queue.c ${CMAKE_SOURCE_DIR}/meterbridge/mb_sink_mem.c
               ${CMAKE_SOURCE_DIR}/meterbridge/mb_sink_rpc.c ${CMAKE_SOURCE_DIR}/meterbridge/mb_poll.c
               ${CMAKE_SOURCE_DIR}/meterbridge/mb_ckpt.c)
add_library(glmeter STATIC ${GL_MB_SRCS})
target_include_directories(glmeter PUBLIC ${CMAKE_SOURCE_DIR}/meterbridge)
# glclient (cmake/rpc.cmake, linked by name: defined after this file) holds
# node/node_lightclient.c, the light-client verifier gridctl uses; the RPC
# sink checks headers, certificates and proofs with it rather than with a
# second verifier of its own.
target_link_libraries(glmeter PUBLIC glchain glclient glcons PkgConfig::MODBUS PkgConfig::JANSSON
                                     PkgConfig::LMDB PkgConfig::SODIUM m)
target_compile_options(glmeter PRIVATE ${GL_WARNINGS})

add_executable(gridmeter ${CMAKE_SOURCE_DIR}/meterbridge/gridmeter.c)
target_link_libraries(gridmeter PRIVATE glmeter)
target_compile_options(gridmeter PRIVATE ${GL_WARNINGS})

add_executable(gridmeter-sim ${CMAKE_SOURCE_DIR}/meterbridge/mb_sim.c
                             ${CMAKE_SOURCE_DIR}/meterbridge/mb_profile.c)
target_link_libraries(gridmeter-sim PRIVATE PkgConfig::MODBUS m)
target_compile_options(gridmeter-sim PRIVATE ${GL_WARNINGS})
# M_PI and friends
target_compile_definitions(gridmeter-sim PRIVATE _DEFAULT_SOURCE)

# Unit tests under tests/unit/meterbridge/ are globbed by the main CMakeLists;
# they need this library, and some start gridmeter-sim or python3.
file(GLOB GL_MB_UNIT CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/meterbridge/test_*.c)
foreach(t ${GL_MB_UNIT})
  get_filename_component(name ${t} NAME_WE)
  target_link_libraries(meterbridge_${name} PRIVATE glmeter)
  target_compile_definitions(meterbridge_${name} PRIVATE
    GL_SOURCE_DIR="${CMAKE_SOURCE_DIR}" GL_SIM_EXE="$<TARGET_FILE:gridmeter-sim>")
  add_dependencies(meterbridge_${name} gridmeter-sim)
  set_tests_properties(meterbridge/${name} PROPERTIES TIMEOUT 120)
endforeach()

if(TARGET fuzz_mb_config)
  target_link_libraries(fuzz_mb_config PRIVATE glmeter)
endif()

# Integration: real processes (gridmeter, gridmeter-sim, pymodbus, socat).
# meter_node*.sh run against a real gridnode network and get their own line below.
file(GLOB GL_MB_INTEG CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/meter_*.sh)
list(FILTER GL_MB_INTEG EXCLUDE REGEX "/meter_node[^/]*\\.sh$")
foreach(t ${GL_MB_INTEG})
  get_filename_component(name ${t} NAME_WE)
  add_test(NAME integration/${name}
           COMMAND bash ${t} $<TARGET_FILE:gridmeter> $<TARGET_FILE:gridmeter-sim>)
  set_tests_properties(integration/${name} PROPERTIES TIMEOUT 300)
endforeach()

# gridmeter against a real gridnode network (tests/integration/meter_node_crash.sh): the
# operator's setup and the verified read-back of the chain's readings are gridctl's.
# gridnode is defined by cmake/node.cmake, included after this file: named by generator
# expression, and present when node.cmake builds it (the same condition).
if(EXISTS ${CMAKE_SOURCE_DIR}/node/node_net.c)
  file(GLOB GL_MB_NODE_INTEG CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/meter_node*.sh)
  foreach(t ${GL_MB_NODE_INTEG})
    get_filename_component(name ${t} NAME_WE)
    add_test(NAME integration/${name}
             COMMAND bash ${t} $<TARGET_FILE:gridmeter> $<TARGET_FILE:gridmeter-sim>
                     $<TARGET_FILE:gridnode> $<TARGET_FILE:gridctl>)
    # a network of gridnodes on fixed loopback ports: alone, like the node tests
    set_tests_properties(integration/${name} PROPERTIES TIMEOUT 240 RUN_SERIAL TRUE)
  endforeach()
endif()
