// Header-only shim; this file exists because SwiftPM needs a source file in a C target.
#include "CVirtioShims.h"
