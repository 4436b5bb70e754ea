// libclang's C API, as installed by Debian's libclang-dev (LLVM 14).
// The include path (/usr/lib/llvm-14/include) is passed by Package.swift to
// the generator targets only; no library product sees this module.
#include <clang-c/Index.h>
