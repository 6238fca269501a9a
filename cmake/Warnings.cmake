# SPDX-License-Identifier: BSL-1.0
# Strict warnings for the project's own targets only (never for consumers).
function(sqlite_hybrid_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC 12 misreads the operator new/delete pair of Asio's coroutine frames, and reports
        # std::variant members copied out of initializer lists as maybe uninitialized, and at -O3
        # string concatenation (`"'" + s`) as an overlapping, oversized or out-of-bounds memcpy
        # (GCC bugs 105651, 105329).
        target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete -Wno-maybe-uninitialized
                                                 -Wno-restrict -Wno-stringop-overflow -Wno-array-bounds)
    endif()
    if(SQLITE_HYBRID_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
