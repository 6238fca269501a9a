include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS sqlite_hybrid EXPORT sqlite_hybrid-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/sqlite_hybrid DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
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
