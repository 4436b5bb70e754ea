import CClang

extension CXString {
    /// Converts a libclang string to Swift and releases it.
    consuming func consumed() -> String {
        defer { clang_disposeString(self) }
        guard let cString = clang_getCString(self) else { return "" }
        return String(cString: cString)
    }
}
