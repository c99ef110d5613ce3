// SPDX-License-Identifier: MIT
/*
 * Handshakes in progress per source address, shared by the workers: a slow
 * or half-open handshake holds a slot until it finishes or times out, so
 * one source cannot fill the daemon with them.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "oktlsd.h"

#define BUCKETS 1024

struct source {
	struct source *next;
	uint8_t addr[16];
	int count;
};

static struct source *table[BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* IPv4 as v4-mapped IPv6, so one key shape serves both families. */
static void key_of(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static unsigned int hash(const uint8_t key[16])
{
	unsigned int h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % BUCKETS;
}

bool oktlsd_limits_get(const struct sockaddr_storage *ss)
{
	struct source *s;
	uint8_t key[16];
	bool ok = false;
	unsigned int h;

	key_of(ss, key);
	h = hash(key);
	pthread_mutex_lock(&lock);
	for (s = table[h]; s; s = s->next)
		if (!memcmp(s->addr, key, 16))
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			goto cleanup;
		memcpy(s->addr, key, 16);
		s->next = table[h];
		table[h] = s;
	}
	if (s->count < oktlsd_cfg.max_per_source) {
		s->count++;
		ok = true;
	}
cleanup:
	pthread_mutex_unlock(&lock);
	return ok;
}

void oktlsd_limits_put(const struct sockaddr_storage *ss)
{
	struct source **pp, *s;
	uint8_t key[16];

	key_of(ss, key);
	pthread_mutex_lock(&lock);
	for (pp = &table[hash(key)]; (s = *pp); pp = &s->next) {
		if (memcmp(s->addr, key, 16))
			continue;
		if (--s->count <= 0) {
			*pp = s->next;
			free(s);
		}
		break;
	}
	pthread_mutex_unlock(&lock);
}
