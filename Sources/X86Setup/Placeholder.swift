#if arch(x86_64)
#endif
