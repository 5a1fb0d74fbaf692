# Debian packages with CPack (top level only): `cpack -G DEB` in a build directory writes
#   cvmm_<version>_<arch>.deb      the runtime component: the example device programs and their discovery
#                                  files (share/qemu/vhost-user/*.json); the libraries are static by design,
#                                  so nothing else runs at run time
#   cvmm-dev_<version>_<arch>.deb  the dev component: the four static libraries, their headers, the CMake
#                                  package (find_package(cvmm COMPONENTS ...)) and the pkg-config files
# tests/packaging builds both and uses them from a scratch root.
set(CPACK_PACKAGE_NAME cvmm)
set(CPACK_PACKAGE_VENDOR "cvmm")
set(CPACK_PACKAGE_CONTACT "cvmm developers <cvmm@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "vhost-user device stack in C")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME cvmm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "vhost-user device programs built on cvmm (blk, rng, net, shm)")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME cvmm-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libev-dev, libjansson-dev, pkg-config")
set(CPACK_COMPONENT_DEV_DESCRIPTION "cvmm static libraries, headers, CMake package and pkg-config files")
include(CPack)
