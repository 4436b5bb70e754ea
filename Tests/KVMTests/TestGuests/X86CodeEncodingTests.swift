import Testing

/// Checks ``X86Code`` against GNU `as`: the same program written both ways must assemble to
/// the same bytes. Skipped (with a message) where binutils is not installed.
@Suite struct X86CodeEncodingTests {
    /// The first differing offset, for the failure message.
    static func compare(_ ours: [UInt8], _ theirs: [UInt8]) -> Comment {
        let firstDifference = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(ours.count, theirs.count)
        return "first difference at offset \(firstDifference)\nours:   \(hexDump(ours))\ntheirs: \(hexDump(theirs))"
    }

    @Test(.enabled(if: GNUAssembler.isAvailable, "GNU binutils (as, objcopy) not installed; encodings not cross-checked"))
    func realModeMatchesGNUAssembler() throws {
        var code = RealModeCode()
        let top = code.here()
        code.mov(.ax, 0x1234); code.mov(.bx, 7); code.mov(.di, 0xFFFF)
        code.mov(.al, 0x12); code.mov(.bh, 3)
        code.mov(.ax, .bx); code.mov(.dx, .si)
        code.outDXAL(); code.out(port: 0x10); code.inALDX(); code.in(port: 0x61)
        code.inc(.ax); code.inc(.di); code.dec(.cx); code.inc(.bl); code.dec(.al)
        code.add(.al, 1); code.add(.al, 0x80); code.add(.bl, 5)
        code.add(.ax, 1); code.add(.ax, 0x1234); code.add(.bx, 0x1234); code.add(.bx, -2)
        code.add(.ax, .bx); code.add(.al, .bl)
        code.cmp(.al, 10); code.cmp(.bl, 10); code.cmp(.ax, 0x1234); code.cmp(.cx, 3); code.cmp(.si, 0x200)
        code.jne(top); code.je(top); code.jmp(top)
        code.hlt()
        code.store(.al, at: 0x1000); code.load(.al, from: 0x1000)
        code.store(.ax, at: 0x1000); code.load(.ax, from: 0x1000)
        code.store(.bl, at: 0x1000); code.load(.bl, from: 0x1000)
        code.store(.cx, at: 0x1000); code.load(.dx, from: 0x1000)
        code.storeByte(0x7F, at: 0x2000); code.storeWord(0x1234, at: 0x2000)
        code.lgdt(at: 0x500)
        code.mov(.cr0, .eax); code.mov(.eax, .cr0); code.mov(.cr3, .ebx); code.mov(.cr4, .eax)
        code.cli(); code.nop()
        code.jmpFar(selector: 0x8, offset: 0x1000)
        // Forward short jumps, then near jumps in both directions across 200 bytes of filler.
        let forward = code.makeLabel()
        let far = code.makeLabel()
        code.jne(forward); code.jmp(forward)
        code.bind(forward)
        code.jne(far, .near); code.jmp(far, .near)
        let beforeFiller = code.here()
        code.emit(repeating: 0x90, count: 200)
        code.bind(far)
        code.jne(beforeFiller, .near); code.jmp(beforeFiller, .near)

        let source = """
        top:
        mov ax, 0x1234; mov bx, 7; mov di, 0xffff
        mov al, 0x12; mov bh, 3
        mov ax, bx; mov dx, si
        out dx, al; out 0x10, al; in al, dx; in al, 0x61
        inc ax; inc di; dec cx; inc bl; dec al
        add al, 1; add al, 0x80; add bl, 5
        add ax, 1; add ax, 0x1234; add bx, 0x1234; add bx, -2
        add ax, bx; add al, bl
        cmp al, 10; cmp bl, 10; cmp ax, 0x1234; cmp cx, 3; cmp si, 0x200
        jne top; je top; jmp top
        hlt
        mov [0x1000], al; mov al, [0x1000]
        mov [0x1000], ax; mov ax, [0x1000]
        mov [0x1000], bl; mov bl, [0x1000]
        mov [0x1000], cx; mov dx, [0x1000]
        mov byte ptr [0x2000], 0x7f; mov word ptr [0x2000], 0x1234
        lgdt [0x500]
        mov cr0, eax; mov eax, cr0; mov cr3, ebx; mov cr4, eax
        cli; nop
        jmp 0x8:0x1000
        jne forward; jmp forward
        forward:
        jne far_target; jmp far_target
        before_filler:
        .fill 200, 1, 0x90
        far_target:
        jne before_filler; jmp before_filler
        """
        let ours = try code.assemble()
        let theirs = try GNUAssembler.assemble(source, mode: .real16)
        #expect(ours == theirs, Self.compare(ours, theirs))
    }

    @Test(.enabled(if: GNUAssembler.isAvailable, "GNU binutils (as, objcopy) not installed; encodings not cross-checked"))
    func longModeMatchesGNUAssembler() throws {
        var code = LongModeCode()
        let top = code.here()
        code.movabs(.rax, 0x1122_3344_5566_7788); code.movabs(.r9, 0x10)
        code.mov(.ecx, 0xC000_0080); code.mov(.r10d, 5)
        code.mov(.rax, .rbx); code.mov(.r8, .rsp)
        code.store(.rbx, at: .rax); code.store(.rax, at: .rax); code.store(.rcx, at: .rsp)
        code.store(.rdx, at: .rbp); code.store(.r11, at: .r12); code.store(.rax, at: .r13)
        code.store(.eax, at: .rdi); code.store(.al, at: .rax); code.store(.r9d, at: .rsi)
        code.load(.rbx, from: .rax); code.load(.r15, from: .r12); code.load(.eax, from: .rbx)
        code.load(.al, from: .rdx); code.load(.cl, from: .r13)
        code.outDXAL(); code.out(port: 0x10); code.outDXEAX(); code.inALDX()
        code.mov(.bl, 0x42); code.inc(.cl); code.add(.al, 3); code.cmp(.dl, 9)
        code.inc(.rax); code.dec(.r11)
        code.add(.rax, 1); code.add(.rax, 0x12345); code.add(.rbx, 0x12345); code.add(.r8, -1)
        code.add(.rax, .rbx)
        code.cmp(.rax, 10); code.cmp(.rcx, 0x1000); code.cmp(.r9, .rax)
        code.hlt(); code.iretq()
        code.lgdt(at: .rax); code.lgdt(at: .r8); code.lidt(at: .rbx)
        code.mov(.cr0, .rax); code.mov(.cr3, .rbx); code.mov(.cr4, .r10); code.mov(.cr8, .rax)
        code.mov(.rax, .cr3); code.mov(.r9, .cr2)
        code.wrmsr(); code.rdmsr()
        code.push(.rax); code.push(.r12); code.push(0x23); code.push(0x1234); code.pushfq()
        code.ltr(.ax)
        code.jne(top, .near); code.jmp(top, .near)
        let forward = code.makeLabel()
        code.je(forward); code.jmp(forward)
        code.emit(repeating: 0x90, count: 10)
        code.bind(forward)
        let far = code.makeLabel()
        code.jne(far, .near); code.jmp(far, .near)
        code.emit(repeating: 0x90, count: 300)
        code.bind(far)
        code.hlt()

        let source = """
        top:
        movabs rax, 0x1122334455667788; movabs r9, 0x10
        mov ecx, 0xC0000080; mov r10d, 5
        mov rax, rbx; mov r8, rsp
        mov [rax], rbx; mov [rax], rax; mov [rsp], rcx
        mov [rbp], rdx; mov [r12], r11; mov [r13], rax
        mov [rdi], eax; mov [rax], al; mov [rsi], r9d
        mov rbx, [rax]; mov r15, [r12]; mov eax, [rbx]
        mov al, [rdx]; mov cl, [r13]
        out dx, al; out 0x10, al; out dx, eax; in al, dx
        mov bl, 0x42; inc cl; add al, 3; cmp dl, 9
        inc rax; dec r11
        add rax, 1; add rax, 0x12345; add rbx, 0x12345; add r8, -1
        add rax, rbx
        cmp rax, 10; cmp rcx, 0x1000; cmp r9, rax
        hlt; iretq
        lgdt [rax]; lgdt [r8]; lidt [rbx]
        mov cr0, rax; mov cr3, rbx; mov cr4, r10; mov cr8, rax
        mov rax, cr3; mov r9, cr2
        wrmsr; rdmsr
        push rax; push r12; push 0x23; push 0x1234; pushfq
        ltr ax
        jne top; jmp top
        je forward; jmp forward
        .fill 10, 1, 0x90
        forward:
        jne far_target; jmp far_target
        .fill 300, 1, 0x90
        far_target:
        hlt
        """
        let ours = try code.assemble()
        let theirs = try GNUAssembler.assemble(source, mode: .long64)
        #expect(ours == theirs, Self.compare(ours, theirs))
    }
}

@Suite struct X86CodeBuilderTests {
    @Test func resolvesLabelsAndAddresses() throws {
        var code = LongModeCode(origin: 0x1000)
        let loop = code.here()
        code.inc(.rax)
        code.jmp(loop)
        #expect(code.address(of: loop) == 0x1000)
        #expect(try code.assemble() == [0x48, 0xFF, 0xC0, 0xEB, 0xFB])
    }

    @Test func rejectsUnboundLabels() {
        var code = RealModeCode()
        let nowhere = code.makeLabel()
        code.jmp(nowhere)
        #expect(throws: RealModeCode.AssemblyError.unboundLabel(0)) { try code.assemble() }
    }

    @Test func rejectsShortJumpsOutOfRange() {
        var code = RealModeCode()
        let target = code.makeLabel()
        code.jne(target)
        code.emit(repeating: 0x90, count: 128)
        code.bind(target)
        #expect(throws: RealModeCode.AssemblyError.displacementOutOfRange(label: 0, displacement: 128, bytes: 1)) {
            try code.assemble()
        }
    }

    @Test func rejectsUnencodableOperands() {
        var code = LongModeCode()
        code.store(.ah, at: .r8)
        #expect(throws: LongModeCode.AssemblyError.unencodable("mov [r8], ah")) { try code.assemble() }
    }
}
