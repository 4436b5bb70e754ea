import Glibc
import KVM
import Testing
import VirtioDevices
import VirtioMMIO
import VirtioQueue

/// A network namespace of the test's own with a TAP the test opened moved into it, addressed 10.213.0.1/24.
/// Everything the test sends stays inside that namespace. Removed on deinit.
final class IsolatedTAP {
    let namespace: String
    let attachment: TAPAttachment

    /// Runs a command line through /bin/sh; returns its exit status.
    @discardableResult
    static func run(_ command: String) -> Int32 {
        let status = system(command + " >/dev/null 2>&1")
        return status == -1 ? -1 : (status >> 8) & 0xFF
    }

    init() throws {
        let suffix = "\(getpid() % 100_000)x\(UInt16.random(in: 0 ... .max))"
        namespace = "virtio-test-\(suffix)"
        guard Self.run("ip netns add \(namespace)") == 0 else { throw TestFailure("ip netns add failed") }
        do {
            attachment = try TAPAttachment(name: "vt\(suffix)")
        } catch {
            Self.run("ip netns del \(namespace)")
            throw error
        }
        let name = attachment.interfaceName
        for command in [
            "ip link set \(name) netns \(namespace)",
            "ip -n \(namespace) addr add 10.213.0.1/24 dev \(name)",
            "ip -n \(namespace) link set \(name) up",
        ] where Self.run(command) != 0 {
            Self.run("ip netns del \(namespace)")
            throw TestFailure("\(command) failed")
        }
    }

    deinit {
        // The TAP is not persistent: it disappears with the attachment's descriptor (and with the namespace).
        Self.run("ip netns del \(namespace)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("virtio-net", .enabled(if: getuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0, "needs root and /dev/net/tun"))
struct VirtioNetworkDeviceTests {
    static let guestMAC = MACAddress("52:54:00:12:34:56")!

    /// An ARP request from 10.213.0.2 (the guest) for 10.213.0.1, behind a zero virtio_net_hdr_v1.
    static func arpRequest() -> [UInt8] {
        let header = [UInt8](repeating: 0, count: 12)
        let ethernet = [UInt8](repeating: 0xFF, count: 6) + guestMAC.bytes + [0x08, 0x06]
        let arp: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + guestMAC.bytes + [10, 213, 0, 2] + [UInt8](repeating: 0, count: 6) + [10, 213, 0, 1]
        return header + ethernet + arp
    }

    @Test("The MAC and link status are in the configuration space; MAC and STATUS are offered")
    func configuration() throws {
        let tap = try IsolatedTAP()
        let device = VirtioNetworkDevice(configuration: .init(attachment: tap.attachment, macAddress: Self.guestMAC))
        let driver = try MMIODriver(device: device)
        #expect((0 ..< 6).map { UInt8(driver.transport.read(at: 0x100 + UInt64($0), size: 1)) } == Self.guestMAC.bytes)
        #expect(driver.transport.read(at: 0x106, size: 2) == 1)
        #expect(driver.deviceFeatures().isSuperset(of: [VirtioNetworkDevice.Feature.mac, VirtioNetworkDevice.Feature.status]))
        #expect(MACAddress("52:54:00:12:34") == nil && MACAddress("zz:54:00:12:34:56") == nil)
        #expect(MACAddress.randomLocallyAdministered().bytes[0] & 0x03 == 0x02)
    }

    @Test("An ARP request the guest transmits is answered by the namespace's kernel on the receive queue")
    func arpExchange() throws {
        let tap = try IsolatedTAP()
        let device = VirtioNetworkDevice(configuration: .init(attachment: tap.attachment, macAddress: Self.guestMAC))
        var (driver, models) = try MMIODriver.ready(device, queues: 2, size: 32)
        var receiveBuffers: [UInt16: UInt64] = [:]
        for _ in 0 ..< 16 {
            let address = try models[0].allocate(2048)
            let head = try models[0].post([.init(address: address, length: 2048, writable: true)])
            receiveBuffers[head] = address
        }
        driver.notify(0)
        let request = Self.arpRequest()
        let address = try models[1].allocate(request.count, filledWith: request)
        try models[1].post([.init(address: address, length: UInt32(request.count), writable: false)])
        driver.notify(1)
        #expect(try waitForUsed(&models[1], count: 1).count == 1)

        // Other frames (IPv6 neighbour discovery) may arrive too: look for the ARP reply among them.
        var reply: [UInt8]?
        _ = try eventually {
            for entry in try models[0].takeUsed() {
                guard let buffer = receiveBuffers[entry.head], entry.length >= 12 + 42 else { continue }
                let frame = try driver.memory.readBytes(at: GuestAddress(buffer), count: Int(entry.length))
                if frame[12 + 12] == 0x08, frame[12 + 13] == 0x06, frame[12 + 21] == 2 { reply = frame }
            }
            return reply != nil
        }
        let frame = try #require(reply)
        #expect(frame[10] == 1 && frame[11] == 0)  // num_buffers
        #expect(Array(frame[12 ..< 18]) == Self.guestMAC.bytes)  // to the guest
        #expect(Array(frame[12 + 28 ..< 12 + 32]) == [10, 213, 0, 1])  // sender IP
        #expect(Array(frame[12 + 32 ..< 12 + 38]) == Self.guestMAC.bytes)  // target MAC
        #expect(!driver.status.contains(.deviceNeedsReset))
    }

    @Test("A transmit chain shorter than the header makes the device need a reset")
    func runtTransmit() throws {
        let tap = try IsolatedTAP()
        let device = VirtioNetworkDevice(configuration: .init(attachment: tap.attachment, macAddress: Self.guestMAC))
        var (driver, models) = try MMIODriver.ready(device, queues: 2)
        let address = try models[1].allocate(4)
        try models[1].post([.init(address: address, length: 4, writable: false)])
        driver.notify(1)
        #expect(eventually { driver.status.contains(.deviceNeedsReset) })
        #expect(driver.errors.all == [.malformedRequest("transmit chain of 4 bytes")])
    }
}
