/* sysinfo_probe: what a container's sysinfo(2) says, beside its /proc.
 *
 *   sysinfo_probe once          one sysinfo(2), then /proc/meminfo, /proc/uptime, /proc/loadavg
 *   sysinfo_probe loop N MS     N calls MS ms apart: "ok <totalram> <uptime>" or "ERR <errno>"
 *   sysinfo_probe bench SECS T  T threads calling sysinfo(2) for SECS s: "calls <n>"
 *
 * Built statically (gcc -static) into the test's busybox rootfs. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

static void cat(const char *path) {
	char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: %s\n", path, strerror(errno));
		return;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	printf("== %s\n%s", path, buf);
}

static volatile int stop;
static long counts[64];

static void *bench(void *arg) {
	long i = (long)arg, n = 0;
	struct sysinfo si;
	while (!stop) {
		if (sysinfo(&si) != 0) {
			counts[i] = -errno;
			return NULL;
		}
		n++;
	}
	counts[i] = n;
	return NULL;
}

int main(int argc, char **argv) {
	struct sysinfo si;
	if (argc >= 2 && strcmp(argv[1], "once") == 0) {
		if (sysinfo(&si) != 0) {
			printf("ERR %d\n", errno);
			return 1;
		}
		printf("sysinfo uptime=%ld loads=%lu,%lu,%lu totalram=%lu freeram=%lu sharedram=%lu bufferram=%lu totalswap=%lu freeswap=%lu procs=%u mem_unit=%u\n",
		       si.uptime, si.loads[0], si.loads[1], si.loads[2], si.totalram, si.freeram, si.sharedram, si.bufferram,
		       si.totalswap, si.freeswap, (unsigned)si.procs, si.mem_unit);
		cat("/proc/meminfo");
		cat("/proc/uptime");
		cat("/proc/loadavg");
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "loop") == 0) {
		int n = atoi(argv[2]), ms = atoi(argv[3]), bad = 0;
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		for (int i = 0; i < n; i++) {
			if (sysinfo(&si) != 0) {
				printf("ERR %d\n", errno);
				bad = 1;
			} else {
				printf("ok %lu %ld\n", si.totalram * si.mem_unit, si.uptime);
			}
			fflush(stdout);
			nanosleep(&ts, NULL);
		}
		return bad;
	}
	if (argc >= 4 && strcmp(argv[1], "bench") == 0) {
		int secs = atoi(argv[2]), threads = atoi(argv[3]);
		pthread_t th[64];
		if (threads < 1 || threads > 64)
			return 2;
		for (long i = 0; i < threads; i++)
			pthread_create(&th[i], NULL, bench, (void *)i);
		sleep(secs);
		stop = 1;
		long total = 0;
		for (int i = 0; i < threads; i++) {
			pthread_join(th[i], NULL);
			if (counts[i] < 0) {
				printf("ERR %ld\n", -counts[i]);
				return 1;
			}
			total += counts[i];
		}
		printf("calls %ld\n", total);
		return 0;
	}
	fprintf(stderr, "usage: sysinfo_probe once | loop N MS | bench SECS THREADS\n");
	return 2;
}
