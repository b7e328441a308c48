# Libraries from Debian packages (scripts/install-deps.sh installs them).
find_package(JPEG REQUIRED)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
find_package(pugixml REQUIRED)
target_link_libraries(mnv2 PUBLIC JPEG::JPEG PNG::PNG ZLIB::ZLIB CURL::libcurl LibArchive::LibArchive pugixml::pugixml)
