#if arch(x86_64)
import Testing
import X86Assembler

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
        code.sti(); code.cld(); code.ret(); code.lodsb(); code.stosb(); code.iret(); code.int(0x10); code.int3()
        code.push(.ax); code.push(.dx); code.pop(.dx); code.pop(.di); code.pushf(); code.popf()
        code.test(.al, 1); code.test(.bl, 0x80); code.test(.al, .al); code.test(.ax, 0x8000); code.test(.dx, 3)
        code.sub(.al, 0x20); code.sub(.cl, 1); code.and(.al, 0x0F); code.or(.bl, 0x40); code.xor(.al, 1)
        code.xor(.ax, .ax); code.xor(.si, .di); code.sub(.ax, .bx); code.and(.cx, .dx); code.or(.ax, .bx)
        code.cmp(.al, .bl); code.cmp(.ax, .cx); code.sub(.bx, 0x300); code.xor(.cx, 1)
        code.xchg(.bx, .ax); code.xchg(.ax, .dx); code.xchg(.bx, .cx)
        code.mov(.ds, .ax); code.mov(.es, .bx); code.mov(.ss, .ax); code.mov(.ax, .ds)
        code.incrementWord(at: 0x500); code.lidt(at: 0x600)
        code.mov(.eax, 0x1234_5678); code.mov(.eax, .ebx); code.add(.eax, 1); code.inc(.ecx); code.cmp(.eax, .edx)
        code.outDXAX(); code.inAXDX(); code.mov(.cl, .dl)
        let subroutine = code.makeLabel()
        code.call(subroutine)
        code.loop(subroutine)
        code.bind(subroutine)
        code.ret()
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
        sti; cld; ret; lodsb; stosb; iret; int 0x10; int3
        push ax; push dx; pop dx; pop di; pushf; popf
        test al, 1; test bl, 0x80; test al, al; test ax, 0x8000; test dx, 3
        sub al, 0x20; sub cl, 1; and al, 0x0f; or bl, 0x40; xor al, 1
        xor ax, ax; xor si, di; sub ax, bx; and cx, dx; or ax, bx
        cmp al, bl; cmp ax, cx; sub bx, 0x300; xor cx, 1
        xchg bx, ax; xchg ax, dx; xchg bx, cx
        mov ds, ax; mov es, bx; mov ss, ax; mov ax, ds
        inc word ptr [0x500]; lidt [0x600]
        mov eax, 0x12345678; mov eax, ebx; add eax, 1; inc ecx; cmp eax, edx
        out dx, ax; in ax, dx; mov cl, dl
        call subroutine
        loop subroutine
        subroutine:
        ret
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
        code.store(.rax, at: .rbx, displacement: 8); code.store(.al, at: .rbx, displacement: 0x10)
        code.store(.r8, at: .rbx, displacement: 8); code.load(.ecx, from: .rbp, displacement: -8)
        code.load(.rax, from: .rsp, displacement: 0x1000); code.store(.ax, at: .rdi); code.load(.dx, from: .r13, displacement: 2)
        code.mov(.eax, .edi); code.mov(.r8d, .eax); code.imul(.eax, .edi); code.imul(.rax, .r9)
        code.xor(.edx, .edx); code.xor(.rax, .rax); code.div(.edi); code.div(.r10); code.mul(.ecx)
        code.neg(.eax); code.not(.r11d)
        code.test(.edx, .edx); code.test(.rax, .rbx); code.test(.eax, 0x100); code.test(.ecx, 1)
        code.add(.edi, 2); code.add(.esi, 0x1000); code.add(.eax, 0x1000); code.inc(.r8d); code.dec(.eax)
        code.cmp(.esi, .ecx); code.cmp(.eax, .esi); code.sub(.rsp, 0x20); code.and(.rax, -16); code.or(.rcx, 1)
        code.sub(.rax, .rbx); code.shl(.eax, 1); code.shl(.rax, 12); code.shr(.ecx, 4); code.shr(.r9, 1)
        code.lodsb(); code.stosb(); code.sti(); code.cli(); code.ret(); code.cpuid(); code.rdtsc(); code.pause(); code.ud2()
        code.pop(.rbx); code.pop(.r15); code.popfq(); code.syscall(); code.sysretq(); code.swapgs()
        code.xchg(.ebx, .eax); code.xchg(.eax, .r8d); code.mov(.ax, .bx); code.inc(.ax); code.add(.ax, 0x1234)
        code.mov(.ds, .ax); code.inEAXDX(); code.mov(.r9d, 7); code.test(.bl, .bl)
        let subroutine = code.makeLabel()
        code.call(subroutine)
        code.loop(subroutine)
        code.bind(subroutine)
        code.ret()
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
        mov [rbx + 8], rax; mov [rbx + 0x10], al
        mov [rbx + 8], r8; mov ecx, [rbp - 8]
        mov rax, [rsp + 0x1000]; mov [rdi], ax; mov dx, [r13 + 2]
        mov eax, edi; mov r8d, eax; imul eax, edi; imul rax, r9
        xor edx, edx; xor rax, rax; div edi; div r10; mul ecx
        neg eax; not r11d
        test edx, edx; test rax, rbx; test eax, 0x100; test ecx, 1
        add edi, 2; add esi, 0x1000; add eax, 0x1000; inc r8d; dec eax
        cmp esi, ecx; cmp eax, esi; sub rsp, 0x20; and rax, -16; or rcx, 1
        sub rax, rbx; shl eax, 1; shl rax, 12; shr ecx, 4; shr r9, 1
        lodsb; stosb; sti; cli; ret; cpuid; rdtsc; pause; ud2
        pop rbx; pop r15; popfq; syscall; sysretq; swapgs
        xchg ebx, eax; xchg eax, r8d; mov ax, bx; inc ax; add ax, 0x1234
        mov ds, ax; in eax, dx; mov r9d, 7; test bl, bl
        call subroutine
        loop subroutine
        subroutine:
        ret
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

    @Test(.enabled(if: GNUAssembler.isAvailable, "GNU binutils (as, objcopy) not installed; encodings not cross-checked"))
    func protectedModeMatchesGNUAssembler() throws {
        var code = ProtectedModeCode()
        let top = code.here()
        code.mov(.eax, 0xC000_0080); code.mov(.esp, 0x9000); code.mov(.ax, 0x1234); code.mov(.bl, 7)
        code.mov(.eax, .ebx); code.mov(.cx, .dx); code.mov(.ds, .ax); code.mov(.ss, .cx)
        code.store(.eax, at: .ebx); code.store(.al, at: .esp, displacement: 4); code.store(.cx, at: .ebp)
        code.load(.edx, from: .esi, displacement: 0x200); code.load(.bl, from: .edi); code.load(.ax, from: .eax, displacement: -2)
        code.add(.eax, 1); code.add(.ebx, 0x12345); code.add(.eax, 0x12345); code.cmp(.ecx, 10); code.sub(.esp, 16)
        code.add(.ax, 3); code.cmp(.ax, 0x1234); code.xor(.eax, .eax); code.test(.eax, .eax); code.cmp(.esi, .edi)
        code.inc(.eax); code.dec(.edi); code.inc(.ax); code.dec(.bx); code.inc(.cl)
        code.push(.eax); code.push(.ebp); code.pop(.ebx); code.push(0x10); code.push(0x1000); code.pushfd(); code.popfd()
        code.mov(.cr0, .eax); code.mov(.cr3, .ebx); code.mov(.cr4, .ecx); code.mov(.eax, .cr0)
        code.lgdt(at: .eax); code.lidt(at: .ebx); code.ltr(.ax)
        code.outDXAL(); code.outDXAX(); code.outDXEAX(); code.inALDX(); code.inAXDX(); code.inEAXDX(); code.out(port: 0xE9)
        code.wrmsr(); code.rdmsr(); code.cpuid(); code.hlt(); code.iretd(); code.lodsb(); code.xchg(.ecx, .eax)
        code.imul(.eax, .ecx); code.div(.ebx); code.shl(.eax, 4); code.shr(.edx, 1)
        code.jmpFar(selector: 0x10, offset: 0x10_0000)
        let subroutine = code.makeLabel()
        code.call(subroutine)
        code.jne(top, .near); code.jmp(top, .near); code.j(.below, top, .near); code.j(.greater, top, .near)
        code.bind(subroutine)
        code.ret()

        let source = """
        top:
        mov eax, 0xC0000080; mov esp, 0x9000; mov ax, 0x1234; mov bl, 7
        mov eax, ebx; mov cx, dx; mov ds, ax; mov ss, cx
        mov [ebx], eax; mov [esp + 4], al; mov [ebp], cx
        mov edx, [esi + 0x200]; mov bl, [edi]; mov ax, [eax - 2]
        add eax, 1; add ebx, 0x12345; add eax, 0x12345; cmp ecx, 10; sub esp, 16
        add ax, 3; cmp ax, 0x1234; xor eax, eax; test eax, eax; cmp esi, edi
        inc eax; dec edi; inc ax; dec bx; inc cl
        push eax; push ebp; pop ebx; push 0x10; push 0x1000; pushfd; popfd
        mov cr0, eax; mov cr3, ebx; mov cr4, ecx; mov eax, cr0
        lgdt [eax]; lidt [ebx]; ltr ax
        out dx, al; out dx, ax; out dx, eax; in al, dx; in ax, dx; in eax, dx; out 0xe9, al
        wrmsr; rdmsr; cpuid; hlt; iretd; lodsb; xchg ecx, eax
        imul eax, ecx; div ebx; shl eax, 4; shr edx, 1
        jmp 0x10:0x100000
        call subroutine
        jne top; jmp top; jb top; jg top
        subroutine:
        ret
        """
        let ours = try code.assemble()
        let theirs = try GNUAssembler.assemble(source, mode: .protected32)
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

    @Test func fillsInLabelAddresses() throws {
        var code = LongModeCode(origin: 0x9000)
        let message = code.makeLabel()
        code.mov(.esi, addressOf: message)
        code.movabs(.rdi, addressOf: message)
        code.hlt()
        code.bind(message)
        code.emit(ascii: "hi", terminator: 0)
        #expect(code.address(of: message) == 0x9010)
        #expect(try code.assemble() == [0xBE, 0x10, 0x90, 0, 0, 0x48, 0xBF, 0x10, 0x90, 0, 0, 0, 0, 0, 0, 0xF4, 0x68, 0x69, 0])

        var real = RealModeCode(origin: 0x1000)
        let handler = real.makeLabel()
        real.storeWord(addressOf: handler, at: 0x30)
        real.mov(.si, addressOf: handler)
        real.bind(handler)
        real.iret()
        #expect(try real.assemble() == [0xC7, 0x06, 0x30, 0x00, 0x09, 0x10, 0xBE, 0x09, 0x10, 0xCF])
    }

    @Test func rejectsAddressesThatDoNotFit() {
        var code = RealModeCode(origin: 0x1_0000)
        let label = code.here()
        code.mov(.si, addressOf: label)
        #expect(throws: RealModeCode.AssemblyError.addressOutOfRange(label: 0, address: 0x1_0000, bytes: 2)) {
            try code.assemble()
        }
    }

    @Test func rejectsLongModeRegistersOutsideLongMode() {
        var code = ProtectedModeCode()
        code.mov(.r8d, 1)
        #expect(throws: ProtectedModeCode.AssemblyError.unencodable("mov r8d, imm32 outside long mode")) { try code.assemble() }
    }

    @Test func alignsFromTheOrigin() throws {
        var code = LongModeCode(origin: 0x1003)
        code.align(8, with: 0xCC)
        code.hlt()
        #expect(try code.assemble() == [0xCC, 0xCC, 0xCC, 0xCC, 0xCC, 0xF4])
    }
}
#endif
