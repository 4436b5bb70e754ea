import Glibc
import Testing
import KVM

@Suite struct EventFDTests {
    @Test func counterRoundTrip() throws {
        let event = try EventFD()
        try event.write(3)
        try event.write()
        #expect(try event.read() == 4)
        try event.write(UInt64(EventFD.maximumValue))
        #expect(try event.read() == EventFD.maximumValue)
    }

    @Test func initialValueAndNonBlockingReads() throws {
        let event = try EventFD(initialValue: 7, options: .nonBlocking)
        #expect(try event.tryRead() == 7)
        #expect(try event.tryRead() == nil)
        #expect(throws: KVMRuntimeError.system(KVMError(operation: "eventfd_read", errno: .resourceTemporarilyUnavailable))) {
            try event.read()
        }
    }

    @Test func semaphoreMode() throws {
        let event = try EventFD(initialValue: 2, options: [.semaphore, .nonBlocking])
        #expect(try event.read() == 1)
        #expect(try event.read() == 1)
        #expect(try event.tryRead() == nil)
    }

    @Test func rejectsInvalidWrites() throws {
        let event = try EventFD(options: .nonBlocking)
        #expect(throws: KVMRuntimeError.system(KVMError(operation: "eventfd_write", errno: .invalidArgument))) {
            try event.write(UInt64.max)
        }
        try event.write(EventFD.maximumValue)
        #expect(throws: KVMRuntimeError.system(KVMError(operation: "eventfd_write", errno: .resourceTemporarilyUnavailable))) {
            try event.write(1)
        }
    }

    @Test func descriptorIsCloseOnExecAndClosedOnDeinit() throws {
        var descriptor: Int32 = -1
        do {
            let event = try EventFD()
            descriptor = event.rawValue
            #expect(event.fileDescriptor.rawValue == descriptor)
            #expect(fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0)
        }
        #expect(descriptor >= 0)
        // The object is gone, so its descriptor number is closed (nothing else in this
        // test reopened it; a concurrently running test might, so only check EBADF or a
        // descriptor that is not an eventfd).
        if fcntl(descriptor, F_GETFD) == -1 {
            #expect(errno == EBADF)
        }
    }

    @Test func wakesABlockedReader() throws {
        let event = try EventFD()
        let thread = try HostThread {
            sleep(milliseconds: 20)
            try? event.write(5)
        }
        #expect(try event.read() == 5)
        thread.join()
    }
}
