import KVM
import KVMBindings
import SystemPackage
import Testing

@Suite struct KVMErrorTests {
    @Test func ioctlErrorsKeepNameRequestAndErrno() {
        let error = KVMError(ioctl: KVMIoctl.run, errno: .interrupted)
        #expect(error.operation == "KVM_RUN")
        #expect(error.request == KVMIoctl.run.request)
        #expect(error.errno == .interrupted)
        #expect(error.isInterrupted)
        #expect(error.description.hasPrefix("KVM_RUN (0x\(String(KVMIoctl.run.request, radix: 16))) failed: "))
        #expect(error.description.hasSuffix("(errno 4)"))
        // The bindings' error converts without losing anything.
        let fromBindings = KVMRuntimeError(KVMIoctlError(ioctl: "KVM_RUN", request: KVMIoctl.run.request, errno: .interrupted))
        #expect(fromBindings == .system(error))
        #expect(fromBindings.errno == .interrupted)
        #expect(fromBindings.operation == "KVM_RUN")
        #expect(fromBindings.ioctlRequest == KVMIoctl.run.request)
        let systemCall = KVMError(operation: "mmap", errno: .noMemory)
        #expect(systemCall.request == nil && !systemCall.isInterrupted)
        #expect(systemCall.description == "mmap failed: \(Errno.noMemory.description) (errno 12)")
    }

    @Test func casesWithoutAnErrnoHaveNone() {
        #expect(KVMRuntimeError.invalidArgument(operation: "x", reason: "y").errno == nil)
        #expect(KVMRuntimeError.invalidArgument(operation: "x", reason: "y").operation == "x")
        #expect(KVMRuntimeError.notEnabled(capability: .dirtyLogRing, operation: "dirtyRing()").operation == "dirtyRing()")
        #expect(KVMRuntimeError.rejectedMSR(index: 0x10).operation == "KVM_SET_MSRS")
        #expect(KVMRuntimeError.guestMemory(.negativeLength(-1)).operation == nil)
        #expect(KVMRuntimeError.deviceMissing(path: "/dev/kvm").ioctlRequest == nil)
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
        #expect(KVMRuntimeError.notEnabled(capability: .dirtyLogRing, operation: "dirtyRing()").description
            == "dirtyRing(): KVM_CAP_DIRTY_LOG_RING is not enabled on this VM (enable it first)")
        #expect(KVMRuntimeError.rejectedMSR(index: 0xC000_0080).description.contains("0xc0000080"))
        #expect(KVMRuntimeError.hugePagesUnavailable(pageSize: 2 << 20, needed: 4, free: 0).description
            .hasPrefix("4 huge pages of 2048 KiB needed, 0 free"))
        #expect(KVMRuntimeError.fileTooShort(size: 10, needed: 20).description == "the file has 10 bytes, 20 were needed")
    }
}

/// The errors a real KVM returns, each as its own case with all its facts.
extension IntegrationTests {
    @Suite struct RuntimeErrors {
        /// The example in `KVMRuntimeError`'s documentation, verbatim (in a function that throws
        /// `KVMRuntimeError`: Swift 6.3.1 crashes in MandatoryAllocBoxToStack on a partial typed
        /// `catch … where` that assigns a local inside an untyped `throws` function).
        static func documentedExample(_ vm: VirtualMachine) throws(KVMRuntimeError) -> KVMRuntimeError? {
            var caught: KVMRuntimeError?
            do {
                _ = try vm.createVCPU(id: 0)
            } catch where error.errno == .fileExists {
                // vCPU 0 exists already: error.operation == "KVM_CREATE_VCPU"
                caught = error
            }
            return caught
        }

        /// The form the earlier documentation promised, against `run()`'s typed error.
        static func runCatchingInterrupted(_ vcpu: VCPU) throws(KVMRuntimeError) -> Bool {
            var interrupted = false
            do {
                _ = try vcpu.run()
            } catch where error.errno == .interrupted {
                interrupted = true
            }
            return interrupted
        }

        @Test func documentedCatchByErrnoCompilesAndMatches() throws {
            let vm = try TestMachine.system().createVM()
            let first = try vm.createVCPU(id: 0)
            let error = try #require(try Self.documentedExample(vm))
            #expect(error.operation == "KVM_CREATE_VCPU")
            #expect(error.ioctlRequest == KVMIoctl.createVCPU.request)
            #expect(error == .system(KVMError(ioctl: KVMIoctl.createVCPU, errno: .fileExists)))
            _ = first

            let machine = try TestMachine(memorySize: 0x1_0000)
            try machine.load([0xF4], at: 0x1000)
            try machine.enterRealMode(rip: 0x1000)
            #expect(try !Self.runCatchingInterrupted(machine.vcpu), "run() reports a signal as .interrupted, not as a thrown EINTR")
        }

        @Test func anMSRTheKernelRefusesIsNamed() throws {
            let machine = try TestMachine(memorySize: 0x1_0000)
            var known = KVMMSREntry()
            known.index = 0x174  // IA32_SYSENTER_CS: every x86 KVM has it
            var unknown = KVMMSREntry()
            unknown.index = 0x4B56_0000  // in no range KVM or any CPU defines
            #expect(throws: KVMRuntimeError.rejectedMSR(index: 0x4B56_0000)) {
                try machine.vcpu.setMSRs([known, unknown])
            }
        }

        @Test func aDirtyRingNotEnabledIsNotEnabledNotAnErrno() throws {
            let machine = try TestMachine(memorySize: 0x1_0000)
            #expect(throws: KVMRuntimeError.notEnabled(capability: .dirtyLogRing, operation: "dirtyRing()")) {
                _ = try machine.vcpu.dirtyRing()
            }
        }

        @Test func aBadDirtyRingSizeIsAnInvalidArgument() throws {
            let vm = try TestMachine.system().createVM()
            let hasRing = try vm.checkExtension(.dirtyLogRing) > 0
            do {
                try vm.enableDirtyRing(bytes: 3)
                Issue.record("a 3-byte ring was accepted")
            } catch {
                guard hasRing else {
                    #expect(error == .capabilityMissing(rawValue: KVMCapability.dirtyLogRing.rawValue, name: "KVM_CAP_DIRTY_LOG_RING"))
                    return
                }
                guard case .invalidArgument(let operation, _) = error else {
                    Issue.record("expected invalidArgument, got \(error)")
                    return
                }
                #expect(operation == "enableDirtyRing(bytes:)")
                #expect(error.errno == nil)
            }
        }
    }
}
