import KVMBindings

/// Runs an ioctl wrapper, turning its error into the runtime's (name, request number and errno kept).
@inline(__always)
func ioctlCall<Result>(_ body: () throws(KVMIoctlError) -> Result) throws(KVMRuntimeError) -> Result {
    do {
        return try body()
    } catch {
        throw KVMRuntimeError(error)
    }
}
