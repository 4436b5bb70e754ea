// The virtio devices the options ask for (VirtioDevices), each on virtio-mmio (VirtioMMIO) with an
// irqfd for its interrupt and ioeventfds for its queue notifications, announced on the kernel command
// line and/or in the DSDT (main.swift builds it from `placements`). Windows from 0xD000_0000, GSIs from 5 (free: COM1 has 4, the PIT 0, the RTC 8 is unused here).
// The guest sees them as /dev/vda, /dev/vdb, ... (in --disk order), eth0, hvc0, /dev/hwrng and vsock.

import DeviceBus
import Glibc
import KVM
import VirtioDevices
import VirtioMMIO

enum VirtioSetup {
    static let base: UInt64 = 0xD000_0000
    static let firstGSI: UInt32 = 5

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
        for (device, placement) in zip(devices, VirtioMMIOPlacement.consecutive(count: devices.count, base: base, firstGSI: firstGSI)) {
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
