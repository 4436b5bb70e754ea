import Glibc

/// Reads environment variables without Foundation.
enum ProcessEnvironment {
    static func value(of name: String) -> String? {
        // SAFETY: getenv returns a pointer into the environment block (or NULL), which stays
        // valid while no thread calls setenv; it is copied into a String at once.
        guard let pointer = unsafe getenv(name) else { return nil }
        return unsafe String(cString: pointer)
    }
}
