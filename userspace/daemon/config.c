// SPDX-License-Identifier: MIT
/* Command line (one table drives getopt and --help) and the SSL_CTX. */
#include <getopt.h>
#include <netdb.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oktls.h"
#include "oktlsd.h"

struct oktlsd_config oktlsd_cfg = {
	.min_proto = TLS1_2_VERSION,
	.max_proto = TLS1_3_VERSION,
	.handshake_timeout_ms = 10000,
	.max_conns = 10000,
	.max_per_source = 64,
	.drain_timeout_ms = 30000,
	.log_level = LOG_INFO,
};

/* Only suites whose records the kernel can carry (AEAD, 16-byte tag). */
static const char default_ciphers[] =
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDHE+AESCCM+AES128:!AESCCM8:!aNULL";

enum {
	OPT_CERT = 256, OPT_KEY, OPT_CA, OPT_VERIFY_CLIENT, OPT_SERVERNAME,
	OPT_CIPHERS, OPT_SUITES, OPT_MIN, OPT_MAX, OPT_NO_TICKETS, OPT_NO_KERNEL_KU, OPT_REKEY, OPT_HS_TIMEOUT,
	OPT_MAX_CONNS, OPT_PER_SOURCE, OPT_DRAIN, OPT_USER, OPT_ULP, OPT_SYSLOG,
	OPT_LOG_LEVEL, OPT_VERSION,
};

struct opt {
	const char *name;
	int has_arg;
	int val;
	const char *arg, *help;
};

static const struct opt opts[] = {
	{ "client", no_argument, 'C', NULL,
	  "client mode: --listen takes plaintext, --backend is the TLS server" },
	{ "listen", required_argument, 'l', "ADDR:PORT",
	  "listen here (repeatable); a bare PORT listens on 0.0.0.0 and [::]" },
	{ "backend", required_argument, 'b', "HOST:PORT",
	  "server mode: the plaintext TCP backend; client mode: the TLS server" },
	{ "cert", required_argument, OPT_CERT, "FILE",
	  "certificate chain, PEM (server: required; client: optional client cert)" },
	{ "key", required_argument, OPT_KEY, "FILE", "private key, PEM (default: --cert)" },
	{ "ca", required_argument, OPT_CA, "FILE",
	  "CA certificates, PEM: server verifies clients, client verifies the server\n"
	  "(client default: the system store)" },
	{ "verify-client", no_argument, OPT_VERIFY_CLIENT, NULL,
	  "server: require a client certificate that verifies against --ca" },
	{ "servername", required_argument, OPT_SERVERNAME, "NAME",
	  "client: SNI and the name the certificate must carry (default: --backend host)" },
	{ "ciphers", required_argument, OPT_CIPHERS, "LIST",
	  "TLS 1.2 cipher list (OpenSSL syntax); non-AEAD suites are refused" },
	{ "ciphersuites", required_argument, OPT_SUITES, "LIST", "TLS 1.3 suites" },
	{ "min-proto", required_argument, OPT_MIN, "1.2|1.3", "lowest version (default 1.2)" },
	{ "max-proto", required_argument, OPT_MAX, "1.2|1.3", "highest version (default 1.3)" },
	{ "no-tickets", no_argument, OPT_NO_TICKETS, NULL,
	  "server: no session tickets (session-ID resumption still works)" },
	{ "no-kernel-keyupdate", no_argument, OPT_NO_KERNEL_KU, NULL,
	  "TLS 1.3: give the kernel bare keys, not the traffic secrets; a peer's\n"
	  "KeyUpdate then ends the connection" },
	{ "rekey-records", required_argument, OPT_REKEY, "N",
	  "TLS 1.3 on oktls: the kernel sends a KeyUpdate after N records under\n"
	  "one key (default: well under the cipher's RFC 8446 limit)" },
	{ "workers", required_argument, 'w', "N", "worker threads (default: CPUs)" },
	{ "handshake-timeout", required_argument, OPT_HS_TIMEOUT, "SEC",
	  "drop a connection not offloaded within SEC seconds (default 10)" },
	{ "max-conns", required_argument, OPT_MAX_CONNS, "N",
	  "connections at once (default 10000)" },
	{ "max-per-source", required_argument, OPT_PER_SOURCE, "N",
	  "handshakes in progress per source address (default 64)" },
	{ "drain-timeout", required_argument, OPT_DRAIN, "SEC",
	  "on SIGTERM, wait this long for connections to finish (default 30)" },
	{ "user", required_argument, OPT_USER, "NAME",
	  "after binding and loading keys, run as this user" },
	{ "ulp", required_argument, OPT_ULP, "NAME",
	  "kernel TLS ULP to attach (default oktls; \"tls\" is the stock module)" },
	{ "syslog", no_argument, OPT_SYSLOG, NULL, "log to syslog instead of stderr" },
	{ "log-level", required_argument, OPT_LOG_LEVEL, "LEVEL",
	  "error, warning, info (default) or debug" },
	{ "verbose", no_argument, 'v', NULL, "same as --log-level debug" },
	{ "help", no_argument, 'h', NULL, "this text" },
	{ "version", no_argument, OPT_VERSION, NULL, "print the version" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct { const char *name; int value; } protos[] = {
	{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION },
	{ "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
};

static const struct { const char *name; int value; } levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING }, { "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

static void usage(FILE *f)
{
	char left[64];
	const char *p, *nl;
	size_t i;

	fprintf(f, "usage: oktlsd [--client] --listen ADDR:PORT --backend HOST:PORT [options]\n\n"
		   "TLS handshakes with OpenSSL, records sealed and opened by the kernel\n"
		   "(oktls); plaintext is moved with splice(2) and never enters oktlsd.\n\n");
	for (i = 0; i < NOPTS; i++) {
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name,
			 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		if (opts[i].val < 256)
			fprintf(f, "  -%c, %-28s", opts[i].val, left);
		else
			fprintf(f, "      %-28s", left);
		for (p = opts[i].help; (nl = strchr(p, '\n')); p = nl + 1)
			fprintf(f, "%.*s\n%36s", (int)(nl - p), p, "");
		fprintf(f, "%s\n", p);
	}
	fprintf(f, "\nSignals: SIGTERM/SIGINT drain and exit, SIGHUP reloads certificates,\n"
		   "SIGUSR1 logs statistics. See oktlsd(8).\n");
}

static int number(const char *name, const char *s, int min, int max, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	log_err("--%s %s: expected a number from %d to %d", name, s, min, max);
	return -1;
}

static int lookup(const char *opt, const char *s, const void *tab, size_t n, int *out)
{
	const struct { const char *name; int value; } *t = tab;
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(t[i].name, s)) {
			*out = t[i].value;
			return 0;
		}
	log_err("--%s: unknown value '%s'", opt, s);
	return -1;
}

int oktlsd_config_parse(int argc, char **argv)
{
	struct option lo[NOPTS + 1];
	struct oktlsd_config *c = &oktlsd_cfg;
	char shorts[64] = "";
	size_t i, n = 0;
	int ch, v;

	for (i = 0; i < NOPTS; i++) {
		lo[i] = (struct option){ opts[i].name, opts[i].has_arg, NULL, opts[i].val };
		if (opts[i].val < 256) {
			shorts[n++] = opts[i].val;
			if (opts[i].has_arg)
				shorts[n++] = ':';
		}
	}
	memset(&lo[NOPTS], 0, sizeof(lo[NOPTS]));
	c->workers = sysconf(_SC_NPROCESSORS_ONLN);
	if (c->workers < 1)
		c->workers = 1;

	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		switch (ch) {
		case 'C': c->client = true; break;
		case 'l':
			if (c->nlisten == OKTLSD_MAX_LISTEN) {
				log_err("at most %d --listen", OKTLSD_MAX_LISTEN);
				return -1;
			}
			c->listen[c->nlisten++] = optarg;
			break;
		case 'b': c->backend = optarg; break;
		case OPT_CERT: c->cert = optarg; break;
		case OPT_KEY: c->key = optarg; break;
		case OPT_CA: c->ca = optarg; break;
		case OPT_VERIFY_CLIENT: c->verify_client = true; break;
		case OPT_SERVERNAME: c->servername = optarg; break;
		case OPT_CIPHERS: c->ciphers = optarg; break;
		case OPT_SUITES: c->ciphersuites = optarg; break;
		case OPT_MIN:
			if (lookup("min-proto", optarg, protos, 4, &c->min_proto))
				return -1;
			break;
		case OPT_MAX:
			if (lookup("max-proto", optarg, protos, 4, &c->max_proto))
				return -1;
			break;
		case OPT_NO_TICKETS: c->no_tickets = true; break;
		case OPT_NO_KERNEL_KU: c->no_kernel_keyupdate = true; break;
		case OPT_REKEY:
			if (number("rekey-records", optarg, 1, INT_MAX, &v))
				return -1;
			c->rekey_records = v;
			break;
		case 'w':
			if (number("workers", optarg, 1, 256, &c->workers))
				return -1;
			break;
		case OPT_HS_TIMEOUT:
			if (number("handshake-timeout", optarg, 1, 3600, &v))
				return -1;
			c->handshake_timeout_ms = v * 1000;
			break;
		case OPT_MAX_CONNS:
			if (number("max-conns", optarg, 1, 1000000, &c->max_conns))
				return -1;
			break;
		case OPT_PER_SOURCE:
			if (number("max-per-source", optarg, 1, 1000000, &c->max_per_source))
				return -1;
			break;
		case OPT_DRAIN:
			if (number("drain-timeout", optarg, 0, 3600, &v))
				return -1;
			c->drain_timeout_ms = v * 1000;
			break;
		case OPT_USER: c->user = optarg; break;
		case OPT_ULP: c->ulp = optarg; break;
		case OPT_SYSLOG: c->syslog = true; break;
		case OPT_LOG_LEVEL:
			if (lookup("log-level", optarg, levels, 4, &c->log_level))
				return -1;
			break;
		case 'v': c->log_level = LOG_DEBUG; break;
		case 'h': usage(stdout); return 1;
		case OPT_VERSION: puts("oktlsd 0.1"); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	if (!c->nlisten || !c->backend) {
		log_err("--listen and --backend are required (see --help)");
		return -1;
	}
	if (!c->client && !c->cert) {
		log_err("server mode needs --cert (and --key unless the key is in it)");
		return -1;
	}
	if (c->verify_client && !c->ca) {
		log_err("--verify-client needs --ca FILE to verify against");
		return -1;
	}
	if (c->min_proto > c->max_proto) {
		log_err("--min-proto is above --max-proto");
		return -1;
	}
	return 0;
}

int oktlsd_config_addr(const char *spec, bool passive, int family,
		       struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = family }, *res;
	char host[256];
	const char *port = strrchr(spec, ':');
	int err;

	if (!port) {			/* bare port */
		host[0] = 0;
		port = spec;
	} else if (spec[0] == '[') {
		snprintf(host, sizeof(host), "%.*s", (int)(port - spec - 2), spec + 1);
		port++;
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)(port - spec), spec);
		port++;
	}
	if (passive)
		hints.ai_flags = AI_PASSIVE;
	if (!strcmp(host, "*"))
		host[0] = 0;
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (err) {
		log_err("address %s: %s", spec, gai_strerror(err));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Warn about configured suites the kernel cannot carry: they are refused. */
static void check_suites(SSL_CTX *ctx)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	int i;

	for (i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *sc = sk_SSL_CIPHER_value(sk, i);

		if (!oktls_cipher_supported(sc))
			log_warn("suite %s cannot be offloaded: connections that negotiate it are refused",
				 SSL_CIPHER_get_name(sc));
	}
}

SSL_CTX *oktlsd_config_ctx(SSL_CTX *old)
{
	struct oktlsd_config *c = &oktlsd_cfg;
	unsigned char keys[80];
	char err[256];
	SSL_CTX *ctx;
	int mode;

	ctx = SSL_CTX_new(c->client ? TLS_client_method() : TLS_server_method());
	if (!ctx)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, c->min_proto) ||
	    !SSL_CTX_set_max_proto_version(ctx, c->max_proto))
		goto fail;
	if (!SSL_CTX_set_cipher_list(ctx, c->ciphers ? c->ciphers : default_ciphers)) {
		log_err("--ciphers %s: no usable cipher", c->ciphers ? c->ciphers : default_ciphers);
		goto fail;
	}
	if (c->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, c->ciphersuites)) {
		log_err("--ciphersuites %s: no usable suite", c->ciphersuites);
		goto fail;
	}
	if (c->cert) {
		if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
			log_err("--cert %s: cannot load the chain: %s", c->cert,
				oktlsd_log_ssl(err, sizeof(err)));
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, c->key ? c->key : c->cert,
						SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			log_err("--key %s: cannot load it, or it does not match --cert: %s",
				c->key ? c->key : c->cert, oktlsd_log_ssl(err, sizeof(err)));
			goto fail;
		}
	}
	if (c->ca) {
		if (SSL_CTX_load_verify_locations(ctx, c->ca, NULL) != 1) {
			log_err("--ca %s: cannot load: %s", c->ca, oktlsd_log_ssl(err, sizeof(err)));
			goto fail;
		}
	} else if (c->client && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		log_err("no --ca and the system certificate store cannot be loaded");
		goto fail;
	}
	if (c->client) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else if (c->verify_client) {
		SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(c->ca));
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (!c->client) {
		/* Session-ID resumption needs a context; tickets are on by default. */
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"oktlsd", 6);
		mode = SSL_SESS_CACHE_SERVER;
		SSL_CTX_set_session_cache_mode(ctx, mode);
		if (c->no_tickets) {
			SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
			SSL_CTX_set_num_tickets(ctx, 0);
		}
		SSL_CTX_set_client_hello_cb(ctx, oktlsd_worker_hello_cb, NULL);
		/* Keep tickets issued before a reload valid after it. */
		if (old && SSL_CTX_get_tlsext_ticket_keys(old, keys, sizeof(keys)) == 1)
			SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof(keys));
		OPENSSL_cleanse(keys, sizeof(keys));
	}
	/* Never SSL_OP_ENABLE_KTLS: keys are derived and installed by liboktls. */
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
	if (oktls_ctx_prepare(ctx))
		goto fail;
	check_suites(ctx);
	return ctx;
fail:
	if (ERR_peek_error())
		log_err("TLS setup: %s", oktlsd_log_ssl(err, sizeof(err)));
	SSL_CTX_free(ctx);
	return NULL;
}
