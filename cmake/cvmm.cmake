# cvmm build helpers, included by every library's CMakeLists.txt (top level or vendored).
include_guard(GLOBAL)
include(GNUInstallDirs)

if(NOT DEFINED CVMM_SANITIZE)
  set(CVMM_SANITIZE "" CACHE STRING "Sanitizers for cvmm targets: '', 'address,undefined' or 'thread'")
endif()
if(NOT DEFINED CVMM_WERROR)
  option(CVMM_WERROR "Treat warnings as errors in cvmm targets" ${PROJECT_IS_TOP_LEVEL})
endif()
set(CVMM_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}" CACHE INTERNAL "")
set(CVMM_VERSION 0.1.0 CACHE INTERNAL "")

# cvmm_sanitize_flags(<out-var>) - compile/link flags for CVMM_SANITIZE.
function(cvmm_sanitize_flags out)
  set(f "")
  if(CVMM_SANITIZE)
    set(f -fsanitize=${CVMM_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  endif()
  set(${out} "${f}" PARENT_SCOPE)
endfunction()

# cvmm_target_defaults(<target>) - C11 without extensions, warnings, sanitizers, private -D_GNU_SOURCE.
function(cvmm_target_defaults tgt)
  set_target_properties(${tgt} PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                                          POSITION_INDEPENDENT_CODE ON)
  target_compile_definitions(${tgt} PRIVATE _GNU_SOURCE)
  target_compile_options(${tgt} PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                                        -Wno-missing-field-initializers)
  if(CVMM_WERROR)
    target_compile_options(${tgt} PRIVATE -Werror)
  endif()
  cvmm_sanitize_flags(sf)
  if(sf)
    target_compile_options(${tgt} PRIVATE ${sf})
    get_target_property(type ${tgt} TYPE)
    if(type STREQUAL "EXECUTABLE" OR type STREQUAL "SHARED_LIBRARY")
      target_link_options(${tgt} PRIVATE ${sf})
    endif()
  endif()
endfunction()

# cvmm_install_library(<folder> <target> [REQUIRES <pc modules...>] [DEPENDS <cvmm components...>]
#                      [LIBS <extra -l flags>])
# Installs the library, its headers, an export set cvmm-<folder>-targets.cmake for cvmmConfig.cmake, and
# cvmm-<folder>.pc.
function(cvmm_install_library folder tgt)
  cmake_parse_arguments(A "" "" "REQUIRES;DEPENDS;LIBS" ${ARGN})
  set_target_properties(${tgt} PROPERTIES EXPORT_NAME ${folder})
  install(TARGETS ${tgt} EXPORT cvmm-${folder}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  get_target_property(type ${tgt} TYPE)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
    install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
  install(EXPORT cvmm-${folder}-targets NAMESPACE cvmm:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cvmm)
  # Record the component's dependencies for cvmmConfig.cmake.
  file(WRITE ${CMAKE_BINARY_DIR}/cvmm-cmake/cvmm-${folder}-deps.cmake "set(cvmm_${folder}_DEPS ${A_DEPENDS})\n")
  install(FILES ${CMAKE_BINARY_DIR}/cvmm-cmake/cvmm-${folder}-deps.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cvmm)
  block()
    set(pc_requires "")
    foreach(d ${A_DEPENDS})
      string(APPEND pc_requires " cvmm-${d}")
    endforeach()
    foreach(r ${A_REQUIRES})
      string(APPEND pc_requires " ${r}")
    endforeach()
    set(CVMM_PC_NAME cvmm-${folder})
    set(CVMM_PC_REQUIRES ${pc_requires})
    # Relocatable: the prefix is found from the .pc file's own folder (libdir/pkgconfig).
    file(RELATIVE_PATH CVMM_PC_UP /x/${CMAKE_INSTALL_LIBDIR}/pkgconfig /x)
    string(REPLACE ";" " " libs "${A_LIBS}")
    if(type STREQUAL "INTERFACE_LIBRARY")
      set(CVMM_PC_LIBS "${libs}")
    else()
      set(CVMM_PC_LIBS "-L\${libdir} -l${tgt} ${libs}")
    endif()
    configure_file(${CVMM_CMAKE_DIR}/cvmm.pc.in ${CMAKE_BINARY_DIR}/cvmm-pc/cvmm-${folder}.pc @ONLY)
    install(FILES ${CMAKE_BINARY_DIR}/cvmm-pc/cvmm-${folder}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  endblock()
  if(NOT TARGET cvmm-config-installed)
    add_custom_target(cvmm-config-installed)
    include(CMakePackageConfigHelpers)
    configure_package_config_file(${CVMM_CMAKE_DIR}/cvmmConfig.cmake.in ${CMAKE_BINARY_DIR}/cvmm-cmake/cvmmConfig.cmake
                                  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cvmm)
    write_basic_package_version_file(${CMAKE_BINARY_DIR}/cvmm-cmake/cvmmConfigVersion.cmake
                                     VERSION ${CVMM_VERSION} COMPATIBILITY SameMinorVersion)
    install(FILES ${CMAKE_BINARY_DIR}/cvmm-cmake/cvmmConfig.cmake ${CMAKE_BINARY_DIR}/cvmm-cmake/cvmmConfigVersion.cmake
            DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cvmm)
  endif()
endfunction()

# cvmm_require(<component>) - add a sibling cvmm library if its target is not there yet (vendoring).
macro(cvmm_require comp)
  if(NOT TARGET cvmm::${comp})
    add_subdirectory(${CVMM_CMAKE_DIR}/../${comp} ${CMAKE_BINARY_DIR}/_cvmm/${comp})
  endif()
endmacro()
