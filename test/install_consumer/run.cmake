# SPDX-License-Identifier: BSL-1.0
# Installs the build tree into a prefix, then configures, builds and runs a consumer project;
# then builds and runs the same program with the compiler and pkg-config's flags alone.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "configuring the consumer failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer ${WORK_DIR}/consumer.db
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "consumer said: ${out}")
if(rc)
    message(FATAL_ERROR "the consumer failed")
endif()

file(GLOB_RECURSE pc_files ${WORK_DIR}/prefix/*/sqlite_hybrid.pc)
if(NOT pc_files)
    message(FATAL_ERROR "no sqlite_hybrid.pc was installed")
endif()
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir ${pc_file} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
execute_process(COMMAND pkg-config --cflags --libs sqlite_hybrid
                RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_VARIABLE why
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(rc)
    message(FATAL_ERROR "pkg-config sqlite_hybrid failed: ${why}")
endif()
message(STATUS "pkg-config sqlite_hybrid: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${CXX} -std=c++20 ${SOURCE_DIR}/main.cpp ${flags} -o ${WORK_DIR}/consumer_pc
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "building the consumer with pkg-config's flags failed")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer_pc ${WORK_DIR}/consumer_pc.db
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "consumer built with pkg-config said: ${out}")
if(rc)
    message(FATAL_ERROR "the consumer built with pkg-config failed")
endif()
