import Testing
import KVM

@Suite struct KVMErrorTests {
    @Test func ioctlErrors() {
        let error = KVMError(ioctl: "KVM_RUN", errno: .interrupted)
        #expect(error.operation == "KVM_RUN")
        #expect(error.errno == .interrupted)
        #expect(error.isInterrupted)
        #expect(error.description.hasPrefix("KVM_RUN failed: "))
        #expect(error.description.hasSuffix("(errno 4)"))
        #expect(error == KVMError(operation: "KVM_RUN", errno: .interrupted))
        #expect(!KVMError(operation: "mmap", errno: .noMemory).isInterrupted)
    }

    @Test func classifiesDeviceOpenFailures() {
        #expect(KVMRuntimeError.openingDevice(at: "/dev/kvm", errno: .noSuchFileOrDirectory) == .deviceMissing(path: "/dev/kvm"))
        #expect(KVMRuntimeError.openingDevice(at: "/dev/kvm", errno: .permissionDenied) == .permissionDenied(path: "/dev/kvm"))
        #expect(KVMRuntimeError.openingDevice(at: "/dev/kvm", errno: .notPermitted) == .permissionDenied(path: "/dev/kvm"))
        #expect(KVMRuntimeError.openingDevice(at: "/dev/kvm", errno: .tooManyOpenFiles)
            == .system(KVMError(operation: "open(/dev/kvm)", errno: .tooManyOpenFiles)))
    }

    @Test func descriptions() {
        #expect(KVMRuntimeError.apiVersionMismatch(expected: 12, actual: 11).description.contains("expected 12"))
        #expect(KVMRuntimeError.capabilityMissing(rawValue: 3, name: "KVM_CAP_USER_MEMORY").description
            .contains("KVM_CAP_USER_MEMORY (3)"))
        #expect(KVMRuntimeError.guestMemory(.addressNotMapped(0x1000)).description.contains("0x1000"))
        #expect(KVMRuntimeError.deviceMissing(path: "/dev/kvm").description.hasPrefix("/dev/kvm does not exist"))
    }
}
