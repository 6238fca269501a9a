# Strict warnings for the project's own targets only (never for consumers).
function(sqlite_hybrid_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC 12 misreads the operator new/delete pair of Asio's coroutine frames, and reports
        # std::variant members copied out of initializer lists as maybe uninitialized.
        target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete -Wno-maybe-uninitialized)
    endif()
    if(SQLITE_HYBRID_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
