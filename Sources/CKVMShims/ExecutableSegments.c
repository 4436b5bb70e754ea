// The running executable's segments (CKVMShims.h): dl_iterate_phdr's first object is the
// executable, in a fully static one as in a dynamically linked one.
#define _GNU_SOURCE
#include <link.h>
#include "CKVMShims.h"

struct ckvm_segment_list {
    struct ckvm_segment *segments;
    int capacity;
    int count;
};

static int ckvm_collect_segments(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct ckvm_segment_list *list = data;
    for (int index = 0; index < info->dlpi_phnum; index++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        if (header->p_type != PT_LOAD && header->p_type != PT_GNU_RELRO) continue;
        if (list->count < list->capacity) {
            struct ckvm_segment *segment = &list->segments[list->count];
            segment->start = info->dlpi_addr + header->p_vaddr;
            segment->size = header->p_memsz;
            segment->type = header->p_type;
            segment->flags = header->p_flags;
        }
        list->count++;
    }
    return 1;  // stop after the first object: the executable
}

int ckvm_executable_segments(struct ckvm_segment *segments, int capacity) {
    struct ckvm_segment_list list = {segments, capacity, 0};
    dl_iterate_phdr(ckvm_collect_segments, &list);
    return list.count;
}
