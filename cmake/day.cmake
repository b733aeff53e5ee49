# ---- gridledger-day: one trading day on a real network (issue 6, point 6) ----
# scripts/demo_day.py starts 4 validators, the shadow centre's API and 20
# households' gridmeter-sim + gridmeter, and runs gridledger-day's setup,
# trade and report steps; `make demo` runs it, and so does the end-to-end test.
add_executable(gridledger-day ${CMAKE_SOURCE_DIR}/node/demo_day.c
                              ${CMAKE_SOURCE_DIR}/meterbridge/mb_profile.c)
target_include_directories(gridledger-day PRIVATE ${CMAKE_SOURCE_DIR}/meterbridge
                                                  ${CMAKE_SOURCE_DIR}/market)
target_link_libraries(gridledger-day PRIVATE glclient glrpc glnodecore glmarket glchain m)
target_compile_options(gridledger-day PRIVATE ${GL_WARNINGS})
target_compile_definitions(gridledger-day PRIVATE _GNU_SOURCE)

# The end-to-end test (issue 6, point 6): the demo itself, under both engines;
# it exits non-zero when a check of its report fails (supply, bills against
# the money moved, the repeated recharge, every slot settled).
find_program(GL_DAY_PYTHON3 python3)
# (gridnode and gridmeter are defined by parts included after this one.)
if(GL_DAY_PYTHON3)
  # Raft with the uniform-price auction, PBFT with P2P matching and grid fees.
  foreach(run "raft;uniform" "pbft;p2p")
    list(GET run 0 engine)
    list(GET run 1 mechanism)
    add_test(NAME integration/e2e_day_${engine}
             COMMAND ${GL_DAY_PYTHON3} ${CMAKE_SOURCE_DIR}/scripts/demo_day.py --engine ${engine}
                     --mechanism ${mechanism} --build ${CMAKE_BINARY_DIR})
    set_tests_properties(integration/e2e_day_${engine} PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE)
  endforeach()
endif()
