# The Debian package: `cpack -G DEB` (or `cmake --build build --target package`) in a build folder makes
# rowcast_VERSION_ARCH.deb holding /usr/bin/rowcast, the systemd unit /lib/systemd/system/rowcast.service
# and its options in /etc/default/rowcast (a conffile), with the maintainer scripts of packaging/.
# The package's Depends come from dpkg-shlibdeps: the libraries the binary really links.

install(TARGETS rowcast RUNTIME DESTINATION bin)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/rowcast.service DESTINATION /lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/rowcast.default DESTINATION /etc/default RENAME rowcast
        PERMISSIONS OWNER_READ OWNER_WRITE) # it may hold ROWCAST_TOKEN

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rowcast)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "rowcast maintainers <rowcast@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "a SQLite database as a live web application")
set(CPACK_PACKAGE_DESCRIPTION "rowcast serves a SQLite database as a page, a REST API over its tables and a
WebSocket that pushes every committed row change. This package runs it as the
systemd service rowcast.service on /var/lib/rowcast/rowcast.db, with its
options in /etc/default/rowcast.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION web)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/conffiles ${CMAKE_SOURCE_DIR}/packaging/postinst
    ${CMAKE_SOURCE_DIR}/packaging/prerm ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_STRIP_FILES ON)
include(CPack)
