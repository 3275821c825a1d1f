/* The thread pool of pool.h: a generation counter the workers watch, a countdown of parts left. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* How long a worker spins for the next job before it sleeps (ns). */
#define SPIN_NS 200000L

struct crn_pool {
  int workers;
  pthread_t *th;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  atomic_uint gen;
  atomic_int left;
  int sleeping; /* under mu */
  int stop;     /* under mu, and read by workers after a wake */
  crn_task fn;
  void *arg;
  int parts;
};

typedef struct { crn_pool *p; int idx; } worker_arg;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Wait for a generation other than `seen`; returns it, or seen when told to stop. */
static unsigned next_job(crn_pool *p, unsigned seen) {
  long until = now_ns() + SPIN_NS;
  for (int i = 0;; i++) {
    unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (g != seen) return g;
    relax();
    if ((i & 255) == 255 && now_ns() > until) break;
  }
  pthread_mutex_lock(&p->mu);
  p->sleeping++;
  unsigned g;
  while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
  p->sleeping--;
  int stop = p->stop;
  pthread_mutex_unlock(&p->mu);
  return stop ? seen : g;
}

static void *worker(void *a) {
  crn_pool *p = ((worker_arg *)a)->p;
  int idx = ((worker_arg *)a)->idx;
  free(a);
  unsigned seen = 0;
  for (;;) {
    unsigned g = next_job(p, seen);
    if (g == seen) return NULL;
    seen = g;
    if (idx < p->parts) p->fn(p->arg, idx, p->parts);
    atomic_fetch_sub_explicit(&p->left, 1, memory_order_release);
  }
}

crn_pool *crn_pool_start(int threads) {
  if (threads < 2) return NULL;
  crn_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->th = calloc((size_t)threads - 1, sizeof(pthread_t));
  if (!p->th) {
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  atomic_init(&p->gen, 0);
  atomic_init(&p->left, 0);
  for (int i = 0; i < threads - 1; i++) {
    worker_arg *a = malloc(sizeof *a);
    if (!a) break;
    a->p = p;
    a->idx = i + 1;
    if (pthread_create(&p->th[i], NULL, worker, a) != 0) {
      free(a);
      break;
    }
    p->workers++;
  }
  if (p->workers == 0) {
    crn_pool_stop(p);
    return NULL;
  }
  return p;
}

int crn_pool_threads(const crn_pool *p) {
  return p ? p->workers + 1 : 1;
}

void crn_pool_run(crn_pool *p, crn_task fn, void *arg, int parts) {
  if (!p || parts < 2) {
    for (int i = 0; i < parts; i++) fn(arg, i, parts);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  p->parts = parts;
  atomic_store_explicit(&p->left, p->workers, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  if (p->sleeping) pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  fn(arg, 0, parts);
  for (int i = 0; atomic_load_explicit(&p->left, memory_order_acquire) > 0; i++) {
    if (i < 4096) relax();
    else sched_yield(); /* a worker was asleep or descheduled: let it run */
  }
}

void crn_pool_stop(crn_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->workers; i++) pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  free(p->th);
  free(p);
}
