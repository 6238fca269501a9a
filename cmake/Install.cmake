# SPDX-License-Identifier: BSL-1.0
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS sqlite_hybrid EXPORT sqlite_hybrid-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/sqlite_hybrid DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/sqlite_hybrid/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sqlite_hybrid)
install(EXPORT sqlite_hybrid-targets NAMESPACE sqlite_hybrid::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sqlite_hybrid)
configure_package_config_file(cmake/sqlite_hybridConfig.cmake.in
        ${CMAKE_CURRENT_BINARY_DIR}/sqlite_hybridConfig.cmake
        INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sqlite_hybrid)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/sqlite_hybridConfigVersion.cmake
        COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sqlite_hybridConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/sqlite_hybridConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sqlite_hybrid)
# For builds without CMake: pkg-config --cflags --libs sqlite_hybrid. The prefix is the one
# given at install time (cmake --install --prefix sets CMAKE_INSTALL_PREFIX for this script).
install(CODE "
    set(PROJECT_VERSION \"${PROJECT_VERSION}\")
    set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
    set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
    configure_file(\"${PROJECT_SOURCE_DIR}/cmake/sqlite_hybrid.pc.in\"
                   \"${PROJECT_BINARY_DIR}/sqlite_hybrid.pc\" @ONLY)
    file(INSTALL \"${PROJECT_BINARY_DIR}/sqlite_hybrid.pc\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
")
