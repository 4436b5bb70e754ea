#!/usr/bin/env python3
"""Writes a tiny synthetic "kernel" for the `boot` example: entered exactly as Linux is, it prints a line
on COM1 and ends the run, in well under a second even where KVM emulates kernel code.

    Scripts/fake-kernel.py pvh OUT      an ELF vmlinux with a PVH note (32-bit entry, EBX = start_info);
                                        checks start_info's magic, prints, powers off through ACPI S5
    Scripts/fake-kernel.py pvh-halt OUT the same, but halts for good after printing (the VMM keeps
                                        running: Benchmarks/vmm-memory.sh measures it then)
    Scripts/fake-kernel.py bzimage OUT  a bzImage (64-bit entry at load + 0x200, RSI = zero page);
                                        checks the zero page's "HdrS", prints, resets through the i8042
    Scripts/fake-kernel.py bzimage-payload PAYLOAD OUT
                                        the same bzImage carrying the file PAYLOAD as its compressed
                                        kernel (payload_offset/payload_length), for timing a VMM's
                                        decompression of real payloads (Benchmarks/loader-decompression.sh)

The same images as FakeKernel.pvhELF/printAndPowerOff32 and FakeKernel.bzImage/printAndReset64 in
Tests/KernelImageFixtures/FakeKernel.swift; the benchmarks and Scripts/update-link-order.sh use them to run
`boot` end to end without a real kernel.
"""
import struct
import sys

PVH_LOAD = 0x10_0000
BZIMAGE_LOAD = 0x100_0000


def print_and_power_off32(message: str, power_off: bool = True) -> bytes:
    message_address = PVH_LOAD + 35
    power_off_code = [0x66, 0xBA, 0x00, 0x06,  # 25: mov dx, 0x600 (ACPI PM1a control)
                      0xB0, 0x34,  # 29: mov al, 5 << 2 | 0x20 (SLP_TYP 5, SLP_EN)
                      0xEE] if power_off else [0x90] * 7  # 31: out dx, al (or nothing: halt)
    return (bytes([0x81, 0x3B, 0x78, 0xC5, 0x6E, 0x33,  # 0: cmp dword [ebx], 0x336ec578 (start_info magic)
                   0x75, 0x18,  # 6: jne hang (32)
                   0xBE]) + struct.pack("<I", message_address)  # 8: mov esi, message
            + bytes([0x66, 0xBA, 0xF8, 0x03,  # 13: mov dx, 0x3f8
                     0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8]  # 17: print loop, done at 25
                    + power_off_code
                    + [0xF4, 0xEB, 0xFD])  # 32: hang: hlt; jmp hang
            + message.encode() + b"\0")  # 35


def pvh_elf(code32: bytes) -> bytes:
    """One PT_LOAD of `code32` at 1 MiB and a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY."""
    image = bytearray(0x1000)
    image[0:7] = b"\x7fELF\x02\x01\x01"  # 64-bit, little-endian, EV_CURRENT
    struct.pack_into("<HHIQQQIHHH", image, 16, 2, 62, 1, 0xFFFF_FFFF_8100_0000, 64, 0, 0, 64, 56, 2)
    struct.pack_into("<IIQQQQQQ", image, 64, 1, 5, 0x1000, 0xFFFF_FFFF_8100_0000, PVH_LOAD,
                     len(code32), len(code32) + 0x1000, 0x1000)  # PT_LOAD, memsz > filesz: a bss
    note = (struct.pack("<III", 4, 4, 3) + b"GNU\0" + struct.pack("<I", 0x1234_5678)
            + struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", PVH_LOAD))
    struct.pack_into("<IIQQQQQQ", image, 120, 4, 4, 0x200, 0, 0x200, len(note), len(note), 4)  # PT_NOTE
    image[0x200:0x200 + len(note)] = note
    return bytes(image) + code32


def print_and_reset64(message: str) -> bytes:
    return (bytes([0x8B, 0x86, 0x02, 0x02, 0x00, 0x00,  # 0: mov eax, [rsi+0x202]
                   0x3D, 0x48, 0x64, 0x72, 0x53,  # 6: cmp eax, "HdrS"
                   0x75, 0x17,  # 11: jne hang (36)
                   0x48, 0x8D, 0x35, 0x13, 0x00, 0x00, 0x00,  # 13: lea rsi, [rip + 19] (message, 39)
                   0x66, 0xBA, 0xF8, 0x03,  # 20: mov dx, 0x3f8
                   0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,  # 24: print loop, done at 32
                   0xB0, 0xFE, 0xE6, 0x64,  # 32: i8042: pulse reset
                   0xF4, 0xEB, 0xFD])  # 36: hang: hlt; jmp hang
            + message.encode() + b"\0")  # 39


def bzimage(code64: bytes, payload: bytes = b"") -> bytes:
    """Boot sector and 4 setup sectors with a setup header (protocol 2.15, relocatable, 64-bit entry),
    then the protected-mode kernel, whose 64-bit entry (offset 0x200) is `code64`."""
    image = bytearray(5 * 512)
    struct.pack_into("<B", image, 0x1F1, 4)  # setup_sects
    struct.pack_into("<H", image, 0x1FE, 0xAA55)  # boot_flag
    struct.pack_into("<H", image, 0x200, 0x66EB)  # jmp over the header
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, 0x020F)  # version
    struct.pack_into("<B", image, 0x211, 1)  # loadflags: LOADED_HIGH
    struct.pack_into("<I", image, 0x214, 0x10_0000)  # code32_start
    struct.pack_into("<I", image, 0x22C, 0x7FFF_FFFF)  # initrd_addr_max
    struct.pack_into("<I", image, 0x230, 0x20_0000)  # kernel_alignment
    struct.pack_into("<B", image, 0x234, 1)  # relocatable_kernel
    struct.pack_into("<H", image, 0x236, 0x3)  # xloadflags: 64-bit entry, above 4 GiB
    struct.pack_into("<I", image, 0x238, 2047)  # cmdline_size
    struct.pack_into("<Q", image, 0x258, BZIMAGE_LOAD)  # pref_address
    struct.pack_into("<I", image, 0x260, 0x40_0000)  # init_size
    if payload:
        struct.pack_into("<I", image, 0x248, 0x200 + len(code64))  # payload_offset, from the protected-mode code
        struct.pack_into("<I", image, 0x24C, len(payload))  # payload_length
    return bytes(image) + bytes([0x90]) * 0x200 + code64 + payload


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "bzimage-payload":
        with open(sys.argv[2], "rb") as source:
            image = bzimage(print_and_reset64("fake kernel (bzImage): the decompressor ran\n"), source.read())
        with open(sys.argv[3], "wb") as out:
            out.write(image)
        return 0
    if len(sys.argv) != 3 or sys.argv[1] not in ("pvh", "pvh-halt", "bzimage"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "bzimage":
        image = bzimage(print_and_reset64("fake kernel (bzImage): hello\n"))
    else:
        image = pvh_elf(print_and_power_off32("fake kernel (PVH): hello\n", power_off=kind == "pvh"))
    with open(path, "wb") as out:
        out.write(image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
