// `--dry-run`: load the kernel into guest memory exactly as for a real boot, then print the plan and
// hex dumps of every structure the VMM wrote, instead of running anything. Needs no /dev/kvm (guest
// memory is plain anonymous memory), so it shows, and the tests check, what a kernel would be given.
//
// Output, one item per line: `format F` (bzImage, pvh, multiboot), `decompression host|guest` (bzImage), `mode M`, `entry ADDR`, `argument ADDR`, `kernel START END`,
// `initrd ADDR SIZE`, `cmdline TEXT`, then `dump NAME ADDR HEX` for the zero page or start_info (with
// its module list and memmap), the command line, the GDT, the page tables' first entries, the ACPI
// tables and the first bytes at the entry point.

import KVM
import LinuxLoader

enum DryRun {
    static func report(plan: BootPlan, memory: GuestMemory, map: MemoryMap, acpi: ACPITables, commandLine: String) -> String {
        let loaded = plan.loaded
        var lines: [String] = []
        switch loaded.format {
        case .bzImage(let version): lines.append("format bzImage \(hex(version, digits: 4))")
        case .pvh: lines.append("format pvh")
        case .multiboot: lines.append("format multiboot")
        }
        switch loaded.decompression {
        case .host?: lines.append("decompression host")
        case .guest?: lines.append("decompression guest")
        case nil: break
        }
        lines.append("mode \(plan.isLongMode ? "64-bit" : "32-bit")")
        lines.append("entry \(hex(plan.entry))")
        lines.append("argument \(hex(plan.argument))")
        lines.append("kernel \(loaded.kernel.lowerBound) \(loaded.kernel.upperBound)")
        if let initrd = loaded.initrd {
            lines.append("initrd \(initrd.lowerBound) \(initrd.upperBound.rawValue - initrd.lowerBound.rawValue)")
        } else {
            lines.append("initrd none")
        }
        lines.append("cmdline \(commandLine)")
        func dump(_ name: String, _ address: UInt64, _ count: Int) {
            let bytes = (try? memory.readBytes(at: GuestAddress(address), count: count)) ?? []
            lines.append("dump \(name) \(hex(address)) " + bytes.map { hex($0, digits: 2).dropFirst(2) }.joined())
        }
        func dump(_ name: String, _ kind: Placement.Kind) {
            let range = loaded.range(of: kind)
            let start = range?.lowerBound.rawValue ?? 0
            dump(name, start, Int((range?.upperBound.rawValue ?? start) - start))
        }
        switch loaded.format {
        case .bzImage: dump("zeropage", .zeroPage)
        case .pvh, .multiboot:
            dump(loaded.format == .pvh ? "startinfo" : "mbinfo", loaded.format == .pvh ? .startInfo : .multibootInfo)
            if loaded.range(of: .moduleList) != nil { dump("modlist", .moduleList) } else { dump("modlist", BootLayout().moduleList.rawValue, 0) }
            dump("memmap", .memoryMap)
        }
        dump("cmdline", .commandLine)
        dump("gdt", GuestLayout.gdt, 0x30)
        if plan.isLongMode { dump("pml4", GuestLayout.pml4, 8) }
        dump("acpi", acpi.rsdpAddress, acpi.blob.count)
        dump("code", plan.entry, 64)
        return lines.joined(separator: "\n")
    }

    /// Guest memory without a VM: the same slots, as plain mappings.
    static func memory(for map: MemoryMap) throws -> GuestMemory {
        var memory = GuestMemory()
        for (slot, range) in map.slots.enumerated() {
            let mapping = try MemoryMapping(byteCount: Int(range.size))
            try memory.insert(GuestMemoryRegion(slot: UInt32(slot), guestBase: GuestAddress(range.address), mapping: mapping))
        }
        return memory
    }
}
