// What libdtrack.so exports: the public API declared in lib/include/dtrack/,
// and nothing else. The library is built with -fvisibility=hidden, and every
// public header wraps its declarations in DTRACK_PUBLIC_BEGIN / _END, so the
// sources, probes and helpers behind them stay internal to the library (an
// embedder cannot come to depend on them, and the dynamic symbol table stays
// small). The static library is unaffected.
#pragma once

#define DTRACK_PUBLIC_BEGIN _Pragma("GCC visibility push(default)")
#define DTRACK_PUBLIC_END _Pragma("GCC visibility pop")

// For forward declarations of internal classes inside a public header: the
// first declaration decides a class's visibility, so without this they would
// be exported with the public API around them. Only while building the
// library (elsewhere the classes are opaque anyway, and a test that holds
// one by value would be warned about a hidden field).
#ifdef DTRACK_BUILDING_LIBRARY
#define DTRACK_INTERNAL __attribute__((visibility("hidden")))
#else
#define DTRACK_INTERNAL
#endif
