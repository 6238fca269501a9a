# Strict warnings for the project's own targets only (never for consumers).
function(sqlite_hybrid_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(SQLITE_HYBRID_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
