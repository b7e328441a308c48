# Libraries from Debian packages (scripts/install-deps.sh installs them).
find_package(JPEG REQUIRED)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
find_package(pugixml REQUIRED)
# SHA-256/384 of downloads (src/fetch/digest.cpp): OpenSSL libcrypto, already needed by libcurl4-openssl.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
target_link_libraries(mnv2 PUBLIC JPEG::JPEG PNG::PNG ZLIB::ZLIB CURL::libcurl LibArchive::LibArchive OpenSSL::Crypto pugixml::pugixml)

# mnv2 serve: cpp-httplib (Debian builds it as a shared library; its pkg-config file
# carries the feature defines the library was built with) and nlohmann-json.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(mnv2 PUBLIC PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
target_compile_definitions(mnv2 PRIVATE MNV2_SERVER_VERSION="${PROJECT_VERSION}")
