import Glibc
import KVM
import KVMBindings
import Synchronization
import Testing

@Suite struct HostThreadTests {
    @Test func returnsWhatTheClosureReturnsAndJoinsOnce() throws {
        let thread = try HostThread(name: "worker") { () -> String in
            // The name is the thread's own, as the kernel reports it.
            (try? readFile("/proc/thread-self/comm"))?.split(separator: "\n").first.map(String.init) ?? "?"
        }
        #expect(thread.join() == "worker")
        #expect(thread.isFinished)
        #expect(thread.join() == "worker", "a second join returns the same result")
    }

    @Test func rethrowsWhatTheClosureThrows() throws {
        struct Failure: Error, Equatable {}
        let thread = try HostThread { () throws(Failure) -> Int in throw Failure() }
        #expect(throws: Failure()) { try thread.join() }
    }

    @Test func longNamesAreCutAtFifteenBytes() throws {
        let thread = try HostThread(name: "a-very-long-thread-name") {
            (try? readFile("/proc/thread-self/comm"))?.split(separator: "\n").first.map(String.init) ?? "?"
        }
        #expect(thread.join() == "a-very-long-thr")
    }

    @Test func refusesATinyStack() {
        #expect(throws: KVMRuntimeError.invalidArgument(operation: "HostThread(stackSize:)", reason: "4096 bytes is below the minimum (16384)")) {
            _ = try HostThread(stackSize: 4096) {}
        }
    }
}

extension IntegrationTests {
    @Suite struct SpawnedVCPUs {
        /// The example of the KVM documentation's overview, with the test's shared `/dev/kvm`.
        @Test func theOverviewExampleRuns() throws {
            let printed = Mutex<[Character]>([])
            @Sendable func print(_ scalar: UnicodeScalar) { printed.withLock { $0.append(Character(scalar)) } }

            let kvm = try TestMachine.system()
            let vm = try kvm.createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
            try vm.memory.write(bytes: [0xB0, 0x41, 0xE6, 0x80, 0xF4], at: 0x1000)  // mov al, 'A'; out 0x80, al; hlt

            let vcpu0 = try vm.spawnVCPU(id: 0) { vcpu in
                try vcpu.enterRealMode(rip: 0)  // the test guest's segments (the overview keeps the reset state)
                var registers = try vcpu.registers()
                registers.rip = 0x1000
                try vcpu.setRegisters(registers)
                while true {
                    switch try vcpu.run() {
                    case .io(let io) where io.direction == .out: print(UnicodeScalar(UInt8(truncatingIfNeeded: io.value)))
                    case .halt, .stopped: return
                    default: continue
                    }
                }
            }
            try vcpu0.join()
            #expect(printed.withLock { $0 } == ["A"])
        }

        @Test func theVCPUIsCreatedOnItsThreadAndFailuresArriveAtTheSpawner() throws {
            let vm = try TestMachine.system().createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
            try vm.memory.write(bytes: [0xF4], at: 0x1000)
            let creator = Mutex<UInt64>(0)
            let first = try vm.spawnVCPU(id: 0) { vcpu -> String in
                // The thread that runs the closure is the thread KVM_CREATE_VCPU ran on: KVM records
                // the creating task as the vCPU's (its stats fd id names it) and this is that thread.
                creator.withLock { $0 = UInt64(UInt(pthread_self())) }
                try vcpu.enterRealMode(rip: 0x1000)
                return "\(try vcpu.run())"
            }
            #expect(try first.join() == "halt")
            #expect(first.id == 0)
            #expect(creator.withLock { $0 } != UInt64(UInt(pthread_self())), "the vCPU ran on another thread")
            // Creating vCPU 0 again fails on the new thread; the spawner gets the error with its facts.
            #expect(throws: KVMRuntimeError.system(KVMError(ioctl: KVMIoctl.createVCPU, errno: .fileExists))) {
                _ = try vm.spawnVCPU(id: 0) { _ in }
            }
        }

        @Test func aSpinningVCPUIsStoppedThroughItsHandle() throws {
            let vm = try TestMachine.system().createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
            try vm.memory.write(bytes: [0xEB, 0xFE], at: 0x1000)  // jmp $
            let started = Atomic<Bool>(false)
            let spinner = try vm.spawnVCPU(id: 0, name: "spinner") { vcpu -> String in
                try vcpu.enterRealMode(rip: 0x1000)
                started.store(true, ordering: .sequentiallyConsistent)
                while true {
                    let exit = try vcpu.run()
                    if case .interrupted = exit { continue }
                    return "\(exit)"
                }
            }
            while !started.load(ordering: .sequentiallyConsistent) { sleep(milliseconds: 1) }
            sleep(milliseconds: 20)
            #expect(!spinner.isFinished)
            spinner.stop()
            #expect(try spinner.join() == "stopped")
        }

        @Test func spawnReturnsOnlyOnceTheVCPUExists() throws {
            let vm = try TestMachine.system().createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
            var threads: [VCPUThread<UInt, Never>] = []
            for id: UInt in 0..<4 {
                threads.append(try vm.spawnVCPU(id: id) { vcpu in vcpu.id })
                // Had spawnVCPU returned before KVM_CREATE_VCPU ran on the new thread, this could win.
                #expect(throws: KVMRuntimeError.system(KVMError(ioctl: KVMIoctl.createVCPU, errno: .fileExists))) {
                    _ = try vm.createVCPU(id: id)
                }
            }
            #expect(threads.map { $0.join() } == [0, 1, 2, 3])
            #expect(threads.map(\.id) == [0, 1, 2, 3])
        }
    }
}
