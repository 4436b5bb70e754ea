// The virtio devices the options ask for (VirtioDevices), each on virtio-mmio (VirtioMMIO) with an
// irqfd for its interrupt and ioeventfds for its queue notifications, announced on the kernel command
// line and/or in the DSDT (main.swift builds it from `placements`). Windows from 0xD000_0000; GSIs
// from `gsis`: the ISA lines no other device of this machine uses (0 PIT, 1 and 12 i8042, 2 cascade,
// 3-4 serial, 8 RTC, 9 the ACPI SCI), then the IOAPIC's 16-23, which Linux maps only for devices it
// finds in the DSDT (a `virtio_mmio.device=` IRQ above 15 has no Linux IRQ behind it).
// The guest sees them as /dev/vda, /dev/vdb, ... (in --disk order), eth0, hvc0, /dev/hwrng and vsock.

import DeviceBus
import Glibc
import KVM
import VirtioDevices
import VirtioMMIO

enum VirtioSetup {
    static let base: UInt64 = 0xD000_0000
    static let gsis: [UInt32] = [5, 6, 7, 10, 11, 13, 14, 15] + Array(16...23)

    struct Attached {
        var transports: [VirtioMMIOTransport] = []
        var placements: [VirtioMMIOPlacement] = []
        var commandLine: [String] = []
    }

    static func attach(options: Options, console: GuestConsole, vm: VirtualMachine, bus: inout Bus) throws -> Attached {
        var devices: [any VirtioDevice] = []
        for disk in options.disks {
            let image = try DiskImageAttachment(path: disk.path, readOnly: disk.readOnly)
            devices.append(VirtioBlockDevice(configuration: .init(attachment: image, serial: "disk\(devices.count)")))
        }
        if let net = options.net {
            var mac = MACAddress.randomLocallyAdministered()
            if let text = net.mac {
                guard let given = MACAddress(text) else { throw SetupError(message: "--net: '\(text)' is not a MAC address") }
                mac = given
            }
            devices.append(VirtioNetworkDevice(configuration: .init(attachment: try TAPAttachment(name: net.tap), macAddress: mac)))
        }
        if let vsock = options.vsock {
            devices.append(VirtioVsockDevice(configuration: .init(attachment: try VsockUnixSocketAttachment(path: vsock.path), guestCID: vsock.cid)))
        }
        if options.rng { devices.append(VirtioEntropyDevice()) }
        if options.console == .hvc0 {
            let attachment = VirtioConsoleAttachment(inputFileDescriptor: nil) { bytes in console.receive(bytes) }
            devices.append(VirtioConsoleDevice(configuration: .init(attachment: attachment)))
        }
        var attached = Attached()
        // Announced on the command line only, a device needs an ISA IRQ (measured: virtio_blk's probe fails
        // with EINVAL on IRQ 16).
        let usable = options.virtioAnnouncement == .cmdline ? gsis.filter { $0 < 16 } : gsis
        guard let placements = VirtioMMIOPlacement.consecutive(count: devices.count, base: base, gsis: usable) else {
            throw SetupError(message: "\(devices.count) virtio devices, but interrupt lines for \(usable.count)"
                + (options.virtioAnnouncement == .cmdline ? " when announced on the command line only (Linux maps no IRQ above 15 for those)" : ""))
        }
        for (device, placement) in zip(devices, placements) {
            attached.transports.append(try VirtioMMIOTransport.attach(device, at: placement, to: vm, bus: &bus) { error in
                GuestConsole.write(Array("microvm: virtio: \(error)\n".utf8), to: 2)
            })
            attached.placements.append(placement)
            if options.virtioAnnouncement != .acpi { attached.commandLine.append(placement.kernelCommandLineFragment) }
        }
        return attached
    }

    struct SetupError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

/// CLOCK_MONOTONIC in seconds.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
