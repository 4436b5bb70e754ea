import KVMBindings

extension KVMRuntimeError {
    /// The runtime's error for a failed ioctl: names the ioctl and keeps the errno.
    init(_ error: KVMIoctlError) {
        self = .system(KVMError(ioctl: error.ioctl, errno: error.errno))
    }
}

/// Runs an ioctl wrapper, turning its error into the runtime's.
@inline(__always)
func ioctlCall<Result>(_ body: () throws(KVMIoctlError) -> Result) throws(KVMRuntimeError) -> Result {
    do {
        return try body()
    } catch {
        throw KVMRuntimeError(error)
    }
}
