# SPDX-License-Identifier: BSL-1.0
# Every source file names its licence in its first lines (an SPDX identifier).
file(GLOB_RECURSE sources
     ${ROOT}/include/*.hpp ${ROOT}/src/*.hpp ${ROOT}/src/*.cpp ${ROOT}/tools/*.hpp ${ROOT}/tools/*.cpp
     ${ROOT}/examples/*.hpp ${ROOT}/examples/*.cpp ${ROOT}/test/*.hpp ${ROOT}/test/*.cpp
     ${ROOT}/bench/*.hpp ${ROOT}/bench/*.cpp ${ROOT}/fuzz/*.cpp ${ROOT}/cmake/*.in)
set(missing "")
foreach(source IN LISTS sources)
    file(STRINGS ${source} head LIMIT_COUNT 2)
    if(NOT head MATCHES "SPDX-License-Identifier: BSL-1.0")
        string(APPEND missing "\n  ${source}")
    endif()
endforeach()
list(LENGTH sources count)
if(missing)
    message(FATAL_ERROR "no SPDX-License-Identifier in the first two lines of:${missing}")
endif()
message(STATUS "${count} source files name their licence")
