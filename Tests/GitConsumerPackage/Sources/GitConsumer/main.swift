// A consumer of swift-kvm by a versioned git URL (Scripts/consumer-check.sh writes its Package.swift,
// pointing at a tagged clone): the runtime and the x86 setup, resolved as a released version.

import KVM
import X86Setup

let layout = LongModeSetup.Layout()
print("GitConsumer KVM \(GuestAddress(0x1000)) X86Setup page tables at \(layout.pageTables)")
