# `cmake --install`: the mnv2 CLI and its bash completion, libmnv2 (shared and static), the
# public header, a CMake package (find_package(mnv2) -> mnv2::mnv2, or mnv2::mnv2_static
# with COMPONENTS static), and mnv2.pc for pkg-config. `cpack -G DEB` (scripts/package-deb.sh) packs the same tree
# into a .deb whose Depends dpkg-shlibdeps computes.
include(CMakePackageConfigHelpers)
set(MNV2_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mnv2)

install(TARGETS mnv2_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(MNV2_BASH_COMPLETION)
  # Where bash-completion looks for a command's script (/usr/share/..., or
  # $XDG_DATA_HOME/bash-completion/completions under a home prefix).
  install(FILES ${MNV2_BASH_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME mnv2)
endif()
install(TARGETS mnv2_shared EXPORT mnv2SharedTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS mnv2 EXPORT mnv2StaticTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/mnv2/mnv2.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mnv2)
install(EXPORT mnv2SharedTargets NAMESPACE mnv2:: DESTINATION ${MNV2_CMAKE_PACKAGE_DIR})
install(EXPORT mnv2StaticTargets NAMESPACE mnv2:: DESTINATION ${MNV2_CMAKE_PACKAGE_DIR})
configure_package_config_file(cmake/mnv2Config.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/mnv2Config.cmake
                              INSTALL_DESTINATION ${MNV2_CMAKE_PACKAGE_DIR})
# 0.x: no compatibility promise between minor versions.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mnv2ConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mnv2Config.cmake ${CMAKE_CURRENT_BINARY_DIR}/mnv2ConfigVersion.cmake
        DESTINATION ${MNV2_CMAKE_PACKAGE_DIR})

# mnv2.pc names the prefix it is installed under (`cmake --install --prefix P` or the .deb's
# /usr), so it is written at install time.
set(MNV2_PC_PREFIX "@MNV2_PC_PREFIX@")  # kept for the install-time pass
configure_file(cmake/mnv2.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mnv2.pc.in @ONLY)
install(CODE "
  set(MNV2_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_CURRENT_BINARY_DIR}/mnv2.pc.in\" \"${CMAKE_CURRENT_BINARY_DIR}/pc/mnv2.pc\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\" TYPE FILE
       FILES \"${CMAKE_CURRENT_BINARY_DIR}/pc/mnv2.pc\")")

# ---- the .deb ----------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME mnv2)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MobileNetV2 inference engine: CLI, server and C++ library")
set(CPACK_PACKAGE_DESCRIPTION "mnv2 classifies images with MobileNetV2 models (TFLite, TensorFlow \
GraphDef, OpenVINO IR, ONNX; float and int8). This package holds the mnv2 command (classify, \
embed, eval, bench, serve, fetch, convert, quantize), libmnv2 (shared and static) with its C++ \
header, CMake package and pkg-config file.")
set(CPACK_PACKAGE_CONTACT "mnv2 maintainers <mnv2@users.noreply.github.com>")
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Depends from the ELF files (dpkg-shlibdeps, in dpkg-dev); a shlibs entry for libmnv2.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# `mnv2 fetch` reaches https servers.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS ca-certificates)
include(CPack)
