/*
 * The native backend's thread pool: the calling thread plus `threads - 1` pthreads that run the
 * parts of one job at a time. A job is fn(arg, part, parts) for part = 0 .. parts - 1, part 0 on
 * the caller; run() returns when every part is done. Workers spin briefly after a job (kernel
 * calls of a training step come back to back), then sleep on a condition variable, so an idle
 * backend (a sampler at batch 1, a process between runs) costs no CPU.
 */
#ifndef CRN_POOL_H
#define CRN_POOL_H

typedef void (*crn_task)(void *arg, int part, int parts);
typedef struct crn_pool crn_pool;

/* A pool of `threads` threads, the caller's included; NULL for 1 (or when no thread starts). */
crn_pool *crn_pool_start(int threads);
/* Threads of the pool, the caller's included (1 for NULL). */
int crn_pool_threads(const crn_pool *p);
/* Run fn on parts (at most crn_pool_threads) parts; without a pool, every part on the caller. */
void crn_pool_run(crn_pool *p, crn_task fn, void *arg, int parts);
/* Stop and join the workers, free the pool. */
void crn_pool_stop(crn_pool *p);

#endif
