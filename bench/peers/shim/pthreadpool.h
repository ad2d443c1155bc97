/* The part of the pthreadpool C API that xnnpack.h and gc_peers use, for machines with
 * Debian's libpthreadpool0 (which libXNNPACK.so links) but without libpthreadpool-dev.
 * Used only when the real header is not found. */
#ifndef GROUPCONV_PEERS_PTHREADPOOL_SHIM_H
#define GROUPCONV_PEERS_PTHREADPOOL_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pthreadpool* pthreadpool_t;

pthreadpool_t pthreadpool_create(size_t threads_count);
size_t pthreadpool_get_threads_count(pthreadpool_t threadpool);
void pthreadpool_destroy(pthreadpool_t threadpool);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif
