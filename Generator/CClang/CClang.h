// libclang's C API, from whichever libclang-N-dev the machine has (LLVM 14 through 19).
// Package.swift finds it (KVM_BINDGEN_LLVM, else the newest /usr/lib/llvm-N) and passes its include
// path and libclang.so to the generator's targets only; no library product sees this module.
#include <clang-c/Index.h>
