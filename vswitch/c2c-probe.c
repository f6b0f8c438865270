/* SPDX-License-Identifier: MIT */
/*
 * Core-to-core probe for the benchmarks: two threads pinned to two CPUs
 * bounce one cache line back and forth, and the median round trip tells
 * whether the host placed the two vCPUs "near" (about 60-80 ns here) or
 * "far" (about 350 ns), which moves a two-process packet benchmark by up
 * to 2x (shared/BENCH-NOTES.md). The figure is the median single round
 * trip, so preemption by other load barely moves it.
 *   vswitch-c2c-probe [CPU-A CPU-B] [BATCHES]   prints "c2c_ns N"
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

#define ROUNDS 20000

static _Alignas(64) atomic_uint line;

struct side {
	int cpu;
	unsigned int batches;
	unsigned int me;          /* 0 starts each round, 1 answers */
	uint32_t *cycles;         /* side 0: TSC cycles of each round trip */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Side 0 writes odd values and waits for the next even one; side 1 answers. */
static void *
bounce(void *arg)
{
	struct side *s = arg;

	pin(s->cpu);
	for (unsigned int b = 0; b < s->batches; b++) {
		for (unsigned int i = 0; i < ROUNDS; i++) {
			unsigned int base = (b * ROUNDS + i) * 2;

			if (s->me == 0) {
				uint64_t t0 = __rdtsc();

				atomic_store_explicit(&line, base + 1,
						      memory_order_release);
				while (atomic_load_explicit(&line, memory_order_acquire) !=
				       base + 2)
					;
				s->cycles[b * ROUNDS + i] = (uint32_t)(__rdtsc() - t0);
			} else {
				while (atomic_load_explicit(&line, memory_order_acquire) !=
				       base + 1)
					;
				atomic_store_explicit(&line, base + 2,
						      memory_order_release);
			}
		}
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* TSC cycles per nanosecond, against the monotonic clock. */
static double
tsc_per_ns(void)
{
	uint64_t t0 = now_ns(), c0 = __rdtsc(), t1;

	do
		t1 = now_ns();
	while (t1 - t0 < 20000000);
	return (double)(__rdtsc() - c0) / (double)(t1 - t0);
}

int
main(int argc, char **argv)
{
	struct side a = { .cpu = 0, .me = 0 }, b = { .cpu = 1, .me = 1 };
	unsigned int batches = 9;
	pthread_t t;

	if (argc >= 3) {
		a.cpu = atoi(argv[1]);
		b.cpu = atoi(argv[2]);
	}
	if (argc >= 4)
		batches = (unsigned int)atoi(argv[3]);
	if (batches < 1 || batches > 64)
		batches = 9;
	a.batches = b.batches = batches;
	a.cycles = calloc((size_t)batches * ROUNDS, sizeof(uint32_t));
	if (!a.cycles || pthread_create(&t, NULL, bounce, &b))
		return 1;
	bounce(&a);
	pthread_join(t, NULL);
	/* The median single round trip: preemption by other load only
	 * lengthens a few of them. */
	qsort(a.cycles, (size_t)batches * ROUNDS, sizeof(uint32_t), cmp);
	printf("c2c_ns %.0f\n",
	       a.cycles[(size_t)batches * ROUNDS / 2] / tsc_per_ns());
	free(a.cycles);
	return 0;
}
