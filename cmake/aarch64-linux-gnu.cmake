# Cross-compiling for 64-bit ARM Linux on a Debian/Ubuntu x86-64 host: the
# g++-aarch64-linux-gnu cross compiler and the arm64 -dev packages installed through
# multiarch (scripts/cross-aarch64.sh installs both). Built programs run under qemu-user
# (qemu-aarch64), which CTest and the tests' CLI wrapper use as the emulator; QEMU_CPU in
# the environment picks the emulated CPU (max: dot product, I8MM, BF16; cortex-a53: ARMv8.0).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Multiarch: arm64 libraries and CMake package files live under lib/aarch64-linux-gnu of
# the host's own prefixes; never link the host's x86-64 ones.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# pkg-config (cpp-httplib) reads only the arm64 .pc files and the architecture-free ones.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
find_program(MNV2_QEMU_AARCH64 qemu-aarch64)
if(MNV2_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MNV2_QEMU_AARCH64})
endif()
