// SPDX-License-Identifier: MIT
/*
 * The offloaded phase: plaintext moves between the kernel TLS socket and
 * the plain socket through a pipe per direction with splice(2), never
 * through oktlsd's memory. Non-data records (splice fails with EINVAL on
 * them) are read with recvmsg and a TLS_GET_RECORD_TYPE cmsg: close_notify
 * ends the direction, NewSessionTicket is consumed, KeyUpdate cannot be
 * followed and ends the connection with an internal_error alert.
 *
 * Every call runs a direction until its source is empty (EAGAIN) or its
 * destination is full, so edge-triggered epoll never misses a wakeup.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "oktlsd.h"
#include "../../kmod/uapi/oktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define PIPE_SIZE (64 * 1024)
#define REC_MAX (16384 + 256)

enum { REC_ALERT = 21, REC_HANDSHAKE = 22, REC_DATA = 23 };
enum { HS_NEW_SESSION_TICKET = 4, HS_KEY_UPDATE = 24 };

struct dir {
	int pipe[2];
	size_t inpipe;
	uint8_t *buf;		/* plaintext that came through userspace: */
	size_t len, off;	/* OpenSSL's leftovers, rare recvmsg data */
	bool eof, done;
};

struct oktlsd_relay {
	int tls_fd, plain_fd;
	struct dir up;		/* TLS -> plain */
	struct dir down;	/* plain -> TLS */
	bool alerted;		/* a fatal alert of ours went to the TLS peer */
	char name[80];
};

void oktlsd_relay_alert(int tls_fd, uint8_t level, uint8_t desc)
{
	char cbuf[CMSG_SPACE(1)] = { 0 };
	uint8_t body[2] = { level, desc };
	struct iovec iov = { body, sizeof(body) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cm) = REC_ALERT;
	/* Best effort: a peer that is gone or not reading does not get it. */
	if (sendmsg(tls_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("alert %u not sent: %s", desc, strerror(errno));
}

static void fatal_alert(struct oktlsd_relay *r, uint8_t desc)
{
	oktlsd_relay_alert(r->tls_fd, SSL3_AL_FATAL, desc);
	r->alerted = true;
}

bool oktlsd_relay_alerted(const struct oktlsd_relay *r)
{
	return r && r->alerted;
}

/*
 * Our side of the stream ended in order: close_notify, then the FIN. oktls
 * seals the alert itself at shutdown, behind every record still queued,
 * however full the send buffer is. The stock module has no such option:
 * the alert is sent here, and a full send buffer refuses it (EAGAIN).
 */
static void end_tls_stream(int tls_fd)
{
	int one = 1;

	if (setsockopt(tls_fd, SOL_TLS, OKTLS_CLOSE_NOTIFY, &one, sizeof(one)))
		oktlsd_relay_alert(tls_fd, SSL3_AL_WARNING, SSL3_AD_CLOSE_NOTIFY);
	shutdown(tls_fd, SHUT_WR);
}

struct oktlsd_relay *oktlsd_relay_new(int tls_fd, int plain_fd,
				      uint8_t *pending, size_t pending_len,
				      const char *name)
{
	struct oktlsd_relay *r = calloc(1, sizeof(*r));

	if (!r)
		goto fail;
	r->up.pipe[0] = r->up.pipe[1] = r->down.pipe[0] = r->down.pipe[1] = -1;
	r->tls_fd = tls_fd;
	r->plain_fd = plain_fd;
	snprintf(r->name, sizeof(r->name), "%s", name);
	if (pipe2(r->up.pipe, O_NONBLOCK | O_CLOEXEC) ||
	    pipe2(r->down.pipe, O_NONBLOCK | O_CLOEXEC)) {
		log_warn("%s: pipe: %s", name, strerror(errno));
		goto fail;
	}
	fcntl(r->up.pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	fcntl(r->down.pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	r->up.buf = pending;
	r->up.len = pending_len;
	return r;
fail:
	free(pending);
	oktlsd_relay_free(r);
	return NULL;
}

void oktlsd_relay_free(struct oktlsd_relay *r)
{
	struct dir *d[2];
	int i, j;

	if (!r)
		return;
	d[0] = &r->up;
	d[1] = &r->down;
	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++)
			if (d[i]->pipe[j] >= 0)
				close(d[i]->pipe[j]);
		free(d[i]->buf);
	}
	free(r);
}

/* OpenSSL 3.0 calls the TLS 1.3-only alerts "unknown". */
static const char *alert_name(uint8_t desc)
{
	static const struct { uint8_t desc; const char *name; } tls13[] = {
		{ 109, "missing extension" }, { 116, "certificate required" },
	};
	size_t i;

	for (i = 0; i < sizeof(tls13) / sizeof(tls13[0]); i++)
		if (tls13[i].desc == desc)
			return tls13[i].name;
	return SSL_alert_desc_string_long(desc);
}

/* A non-data record on the TLS socket. 1 consumed, 0 nothing, -1 end. */
static int control_record(struct oktlsd_relay *r, struct dir *d)
{
	char cbuf[CMSG_SPACE(1)];
	uint8_t rec[REC_MAX];
	struct iovec iov = { rec, sizeof(rec) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	uint8_t type = REC_DATA;
	ssize_t n;

	n = recvmsg(r->tls_fd, &msg, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		log_info("%s: TLS receive failed: %s%s", r->name, strerror(errno),
			 errno == EBADMSG ? " (a record failed authentication)" : "");
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(cm);
	switch (type) {
	case REC_DATA:
		/* splice refused data for another reason: carry it by hand. */
		if (n == 0) {
			d->eof = true;
			return 1;
		}
		d->buf = malloc(n);
		if (!d->buf)
			return -1;
		memcpy(d->buf, rec, n);
		d->len = n;
		d->off = 0;
		return 1;
	case REC_ALERT:
		atomic_fetch_add(&oktlsd_stats.alerts_received, 1);
		if (n >= 2 && rec[1] == SSL3_AD_CLOSE_NOTIFY) {
			log_debug("%s: close_notify from the TLS peer", r->name);
			d->eof = true;
			return 1;
		}
		if (n >= 2)
			log_info("%s: TLS peer sent alert %u: %s", r->name, rec[1],
				 alert_name(rec[1]));
		else
			log_info("%s: TLS peer sent a truncated alert", r->name);
		return -1;
	case REC_HANDSHAKE:
		if (n >= 4 && rec[0] == HS_NEW_SESSION_TICKET) {
			/* A ticket for a session we no longer hold in OpenSSL: dropped. */
			atomic_fetch_add(&oktlsd_stats.tickets_received, 1);
			log_debug("%s: NewSessionTicket consumed", r->name);
			return 1;
		}
		if (n >= 4 && rec[0] == HS_KEY_UPDATE) {
			/*
			 * The peer's next records are under keys the kernel does
			 * not have. Not close_notify: that would tell the peer our
			 * data ended in order, while backend bytes still in flight
			 * are dropped here. The key update itself is valid, so not
			 * unexpected_message either: internal_error, ours.
			 */
			atomic_fetch_add(&oktlsd_stats.key_updates, 1);
			log_warn("%s: TLS peer sent a KeyUpdate, and the kernel holds no traffic secret to follow it (--no-kernel-keyupdate, or a module without it): closing with internal_error",
				 r->name);
			fatal_alert(r, TLS1_AD_INTERNAL_ERROR);
			return -1;
		}
		log_info("%s: unexpected post-handshake message %u: closing", r->name,
			 n ? rec[0] : 0);
		fatal_alert(r, SSL3_AD_UNEXPECTED_MESSAGE);
		return -1;
	default:
		log_info("%s: unexpected record type %u: closing", r->name, type);
		fatal_alert(r, SSL3_AD_UNEXPECTED_MESSAGE);
		return -1;
	}
}

static const char *side(struct oktlsd_relay *r, int fd)
{
	return fd == r->tls_fd ? "TLS peer" : oktlsd_cfg.client ? "local client" : "backend";
}

/* One direction. 1 progress, 0 none, -1 failed. */
static int pump_dir(struct oktlsd_relay *r, struct dir *d, int src, int dst,
		    atomic_ulong *counter)
{
	int progress = 0, ret;
	ssize_t n;

	/* Out first, in the order bytes arrived: pipe, then the buffer. */
	if (d->inpipe) {
		n = splice(d->pipe[0], NULL, dst, NULL, d->inpipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe -= n;
			atomic_fetch_add(counter, n);
			progress = 1;
		} else if (n < 0 && errno != EAGAIN) {
			log_info("%s: sending to the %s: %s", r->name, side(r, dst),
				 strerror(errno));
			return -1;
		}
	}
	if (!d->inpipe && d->off < d->len) {
		n = send(dst, d->buf + d->off, d->len - d->off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			d->off += n;
			atomic_fetch_add(counter, n);
			progress = 1;
		} else if (n < 0 && errno != EAGAIN) {
			log_info("%s: sending to the %s: %s", r->name, side(r, dst),
				 strerror(errno));
			return -1;
		}
		if (d->off == d->len) {
			free(d->buf);
			d->buf = NULL;
			d->len = d->off = 0;
		}
	}
	if (!d->eof && !d->len && d->inpipe < PIPE_SIZE) {
		n = splice(src, NULL, d->pipe[1], NULL, PIPE_SIZE - d->inpipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe += n;
			progress = 1;
		} else if (n == 0) {
			if (src == r->tls_fd)
				log_debug("%s: TLS peer closed without close_notify", r->name);
			d->eof = true;
			progress = 1;
		} else if ((errno == EINVAL || errno == EIO) && src == r->tls_fd) {
			/* A non-data record is next: upstream says EINVAL, oktls may say EIO. */
			ret = control_record(r, d);
			if (ret < 0)
				return -1;
			progress |= ret;
		} else if (errno != EAGAIN) {
			log_info("%s: receiving from the %s: %s%s", r->name, side(r, src),
				 strerror(errno),
				 errno == EBADMSG ? " (a record failed authentication)" : "");
			return -1;
		}
	}
	if (d->eof && !d->inpipe && !d->len && !d->done) {
		d->done = true;
		if (dst == r->tls_fd)
			end_tls_stream(dst);
		else
			shutdown(dst, SHUT_WR);
		progress = 1;
	}
	return progress;
}

int oktlsd_relay_pump(struct oktlsd_relay *r)
{
	int a, b;

	do {
		a = pump_dir(r, &r->up, r->tls_fd, r->plain_fd, &oktlsd_stats.bytes_to_plain);
		if (a < 0)
			return -1;
		b = pump_dir(r, &r->down, r->plain_fd, r->tls_fd, &oktlsd_stats.bytes_to_tls);
		if (b < 0)
			return -1;
	} while (a || b);
	return !(r->up.done && r->down.done);
}
