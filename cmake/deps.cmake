# Libraries from Debian packages (scripts/install-deps.sh installs them), by layer.

# libmnv2: image decoding (libjpeg-turbo, libpng, zlib) and the OpenVINO IR reader (pugixml).
# Private to the shared library; the static one lists them as link-only dependencies.
find_package(JPEG REQUIRED)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(pugixml REQUIRED)
set(MNV2_CORE_DEPS Threads::Threads JPEG::JPEG PNG::PNG ZLIB::ZLIB pugixml::pugixml)
foreach(lib mnv2 mnv2_shared mnv2_objects)
  target_link_libraries(${lib} PRIVATE ${MNV2_CORE_DEPS})
endforeach()

# mnv2_fetch: downloads (libcurl), archive unpacking (libarchive), digests (OpenSSL libcrypto).
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)

# mnv2_serve: cpp-httplib (Debian builds it as a shared library; its pkg-config file
# carries the feature defines the library was built with) and nlohmann-json.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(nlohmann_json 3 REQUIRED)
