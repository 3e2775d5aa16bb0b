# What `cmake --install` (and `make install`) puts where. The daemon goes
# to sbin (it is started by the system, as Postfix's master is), the
# command line to bin, sendmail to sbin and mailq to bin as links to it.
# The configuration directory follows the prefix the GNU way: /etc for
# /usr, PREFIX/etc otherwise. The static library and the headers are for
# embedders only: component "dev", installed by `make install-dev`.
include(GNUInstallDirs)

set(MXR_CONFIG_FILE "${CMAKE_INSTALL_FULL_SYSCONFDIR}/mxrelay/mxrelay.conf")

# systemd's own unit directory under /usr (from systemd.pc when present:
# /lib/systemd/system before the /usr merge, /usr/lib/systemd/system
# after), PREFIX/lib/systemd/system for any other prefix.
set(MXR_SYSTEMD_UNIT_DIR "" CACHE PATH "directory the systemd unit is installed in (empty: chosen from the prefix)")
set(mxr_unit_dir "${MXR_SYSTEMD_UNIT_DIR}")
if(NOT mxr_unit_dir)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    pkg_get_variable(mxr_unit_dir systemd systemdsystemunitdir)
    if(NOT mxr_unit_dir)
      set(mxr_unit_dir /lib/systemd/system)
    endif()
  else()
    set(mxr_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
endif()

# The configuration read when none is named is the installed one, for the
# daemon and the CLI alike: config_path_choose() in the config library
# holds the rule; the CLI names the same path in its --help texts.
target_compile_definitions(mxrd_config_obj PRIVATE MXR_CONFIG_FILE="${MXR_CONFIG_FILE}")
if(TARGET mxrelay)
  target_compile_definitions(mxrelay PRIVATE MXR_CONFIG_FILE="${MXR_CONFIG_FILE}")
  # mxrelay dkim keygen's default --dir: beside the configuration.
  target_compile_definitions(mxrelay PRIVATE
                             MXR_DKIM_DIR="${CMAKE_INSTALL_FULL_SYSCONFDIR}/mxrelay/dkim")
endif()

# The unit, the man pages and the example configuration name installed
# paths as they are for PREFIX=/usr; write each with this prefix's paths.
set(MXR_INSTALLED_DIR "${CMAKE_BINARY_DIR}/installed")
function(mxr_install_copy src dst)
  file(READ "${PROJECT_SOURCE_DIR}/${src}" text)
  foreach(pair
      "/usr/sbin/mxrelayd|${CMAKE_INSTALL_FULL_SBINDIR}/mxrelayd"
      "/usr/sbin/sendmail|${CMAKE_INSTALL_FULL_SBINDIR}/sendmail"
      "/usr/bin/mxrelay|${CMAKE_INSTALL_FULL_BINDIR}/mxrelay"
      "/usr/bin/mailq|${CMAKE_INSTALL_FULL_BINDIR}/mailq"
      "/lib/systemd/system/mxrelayd.service|${mxr_unit_dir}/mxrelayd.service"
      "/etc/mxrelay/|${CMAKE_INSTALL_FULL_SYSCONFDIR}/mxrelay/")
    string(REPLACE "|" ";" pair "${pair}")
    list(GET pair 0 from)
    list(GET pair 1 to)
    string(REPLACE "${from}" "${to}" text "${text}")
  endforeach()
  file(WRITE "${MXR_INSTALLED_DIR}/${dst}.new" "${text}")
  configure_file("${MXR_INSTALLED_DIR}/${dst}.new" "${MXR_INSTALLED_DIR}/${dst}" COPYONLY)
  file(REMOVE "${MXR_INSTALLED_DIR}/${dst}.new")
  set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               "${PROJECT_SOURCE_DIR}/${src}")
endfunction()

mxr_install_copy(etc/mxrelayd.service mxrelayd.service)
mxr_install_copy(etc/mxrelay.conf mxrelay.conf)
mxr_install_copy(man/mxrelay.1 mxrelay.1)
mxr_install_copy(man/mxrelay.conf.5 mxrelay.conf.5)
mxr_install_copy(man/mxrelayd.8 mxrelayd.8)

if(TARGET mxrelayd)
  install(TARGETS mxrelayd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()
if(TARGET mxrelay)
  install(TARGETS mxrelay RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# sendmail and mailq: relative links to mxrelay, which picks its mode from
# the name it was run under; their man pages are links to mxrelay(1).
file(RELATIVE_PATH mxr_sbin_to_cli "${CMAKE_INSTALL_FULL_SBINDIR}"
     "${CMAKE_INSTALL_FULL_BINDIR}/mxrelay")
file(MAKE_DIRECTORY "${MXR_INSTALLED_DIR}/sbin" "${MXR_INSTALLED_DIR}/bin"
     "${MXR_INSTALLED_DIR}/man1" "${MXR_INSTALLED_DIR}/man8")
file(CREATE_LINK "${mxr_sbin_to_cli}" "${MXR_INSTALLED_DIR}/sbin/sendmail" SYMBOLIC)
file(CREATE_LINK mxrelay "${MXR_INSTALLED_DIR}/bin/mailq" SYMBOLIC)
file(CREATE_LINK ../man1/mxrelay.1 "${MXR_INSTALLED_DIR}/man8/sendmail.8" SYMBOLIC)
file(CREATE_LINK mxrelay.1 "${MXR_INSTALLED_DIR}/man1/mailq.1" SYMBOLIC)
install(FILES "${MXR_INSTALLED_DIR}/sbin/sendmail" DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES "${MXR_INSTALLED_DIR}/bin/mailq" DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES "${MXR_INSTALLED_DIR}/mxrelay.1" "${MXR_INSTALLED_DIR}/man1/mailq.1"
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES "${MXR_INSTALLED_DIR}/mxrelay.conf.5" DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES "${MXR_INSTALLED_DIR}/mxrelayd.8" "${MXR_INSTALLED_DIR}/man8/sendmail.8"
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES "${MXR_INSTALLED_DIR}/mxrelayd.service" DESTINATION "${mxr_unit_dir}")

# The example configuration, unless the administrator has one already.
install(CODE "
  set(conf \"\$ENV{DESTDIR}${MXR_CONFIG_FILE}\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Keeping the existing \${conf}\")
  else()
    file(INSTALL \"${MXR_INSTALLED_DIR}/mxrelay.conf\"
         DESTINATION \"${CMAKE_INSTALL_FULL_SYSCONFDIR}/mxrelay\"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()")

install(DIRECTORY include/mxrelay DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev EXCLUDE_FROM_ALL)
install(TARGETS mxrelay_embed ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        COMPONENT dev EXCLUDE_FROM_ALL)
