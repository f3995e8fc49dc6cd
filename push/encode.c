// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * encode.c - the bytes Pyroscope reads: a PushRequest written by hand (five
 * fields do not warrant a protobuf code generator), the /ingest query, the
 * series labels and their checks, and the service name of a process.
 *
 *   PushRequest      { repeated RawProfileSeries series = 1; }
 *   RawProfileSeries { repeated LabelPair labels = 1; repeated RawSample samples = 2; }
 *   LabelPair        { string name = 1; string value = 2; }
 *   RawSample        { bytes raw_profile = 1; string ID = 2; }
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <curl/curl.h>
#include "internal.h"

const char *push_drop_name(enum push_drop reason)
{
	static const char *const names[PUSH_DROP_MAX] = {
		[PUSH_DROP_QUEUE_FULL] = "queue_full", [PUSH_DROP_TOO_OLD] = "too_old",
		[PUSH_DROP_REJECTED] = "rejected", [PUSH_DROP_ENCODE] = "encode",
		[PUSH_DROP_SHUTDOWN] = "shutdown",
	};

	return reason < PUSH_DROP_MAX ? names[reason] : "unknown";
}

const char *push_label__check(const struct push_label *l, enum push_protocol protocol)
{
	const char *c;

	if (!*l->name)
		return "empty label name";
	if (strlen(l->name) > PUSH_MAX_NAME_LEN)
		return "label name longer than 1024 bytes";
	if (strlen(l->value) > PUSH_MAX_VALUE_LEN)
		return "label value longer than 2048 bytes";
	if (!*l->value)
		return "empty label value (the server drops it)";
	if (!strncmp(l->name, "__", 2))
		return "names starting with __ are reserved";
	for (c = l->name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
		      (c > l->name && *c >= '0' && *c <= '9')))
			return "label names are [a-zA-Z_][a-zA-Z0-9_]*";
	for (c = l->value; *c; c++)
		if ((unsigned char)*c < 0x20 ||
		    (protocol != PUSH_CONNECT && strchr("{},=", *c)))
			return protocol != PUSH_CONNECT ? "/ingest label values cannot hold {},= "
				"or control characters" : "label values cannot hold control characters";
	return NULL;
}

/* Copies @n bytes of @s into @buf, control characters replaced. */
static void put_name(char *buf, size_t size, const char *s, size_t n)
{
	size_t i;

	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 ? '_' : s[i];
	buf[n] = '\0';
}

static bool is_hex(const char *s, size_t n)
{
	return n && strspn(s, "0123456789abcdef") >= n;
}

/*
 * The container (docker-ID.scope, cri-containerd-ID.scope, crio-ID.scope,
 * libpod-ID.scope, or a bare 64-hex cgroupfs name) wins; else the deepest
 * systemd service but user@UID.service (the session manager); else the
 * executable's basename; else comm.
 */
void push_service_name(const struct store_proc *proc, char *buf, size_t size)
{
	static const char *const runtimes[] = { "docker-", "cri-containerd-", "crio-", "libpod-" };
	const char *seg, *end, *unit = NULL, *exe, *id;
	size_t len, unit_len = 0, i, rl;

	for (seg = proc->cgroup; seg && *seg; seg = end) {
		seg += strspn(seg, "/");
		end = seg + strcspn(seg, "/");
		len = end - seg;
		for (i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
			rl = strlen(runtimes[i]);
			id = seg + rl;
			if (len > rl + 6 + 12 && !strncmp(seg, runtimes[i], rl) &&
			    !memcmp(end - 6, ".scope", 6) && is_hex(id, 12)) {
				snprintf(buf, size, "%.*s%.12s", (int)rl, seg, id);
				return;
			}
		}
		if (len == 64 && is_hex(seg, 64)) {
			snprintf(buf, size, "container-%.12s", seg);
			return;
		}
		if (len > 8 && !memcmp(end - 8, ".service", 8) && strncmp(seg, "user@", 5)) {
			unit = seg;
			unit_len = len - 8;
		}
	}
	if (unit)
		return put_name(buf, size, unit, unit_len);
	exe = proc->exe && *proc->exe ? strrchr(proc->exe, '/') : NULL;
	exe = exe && exe[1] ? exe + 1 : proc->exe;
	if (exe && *exe) {
		len = strlen(exe);	/* a replaced binary still names its service */
		if (len > 10 && !strcmp(exe + len - 10, " (deleted)"))
			len -= 10;
		return put_name(buf, size, exe, len);
	}
	if (proc->comm && *proc->comm)
		return put_name(buf, size, proc->comm, strlen(proc->comm));
	snprintf(buf, size, "unknown");
}

/* A random (version 4) UUID: RawSample.ID, which lets a server spot a resend. */
static void uuid4(char out[37])
{
	uint8_t r[16] = {};

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		struct timespec ts;	/* no entropy yet: time is unique enough */

		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(r, &ts, sizeof(ts) < sizeof(r) ? sizeof(ts) : sizeof(r));
	}
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
		 r[13], r[14], r[15]);
}

/* The value of a default label (@name) after the extra labels' overrides. */
static const char *label_value(const struct push_enc *e, const char *name, const char *dflt)
{
	int i;

	for (i = 0; i < e->nlabels; i++)
		if (!strcmp(e->labels[i].name, name))
			return e->labels[i].value;
	return dflt;
}

static void put_label(struct wbuf *series, struct wbuf *tmp, const char *name, const char *value)
{
	tmp->len = 0;
	pb__str(tmp, 1, name);
	pb__str(tmp, 2, value);
	if (tmp->err)
		series->err = tmp->err;
	pb__bytes(series, 1, tmp->p, tmp->len);
}

int push_encode_connect(const struct push_enc *e, const struct push_series *s, int n,
			struct wbuf *out)
{
	struct wbuf series = {}, tmp = {};
	char id[37];
	int i, j;

	for (i = 0; i < n; i++) {
		series.len = 0;
		/* what Grafana's own eBPF profiler sends, then host and the extras */
		put_label(&series, &tmp, "__name__", "process_cpu");
		put_label(&series, &tmp, "__delta__", "false");
		put_label(&series, &tmp, "service_name", s[i].service);
		put_label(&series, &tmp, "host", label_value(e, "host", e->host));
		for (j = 0; j < e->nlabels; j++)
			if (strcmp(e->labels[j].name, "host") &&
			    strcmp(e->labels[j].name, "service_name"))
				put_label(&series, &tmp, e->labels[j].name, e->labels[j].value);
		for (j = 0; j < s[i].nchunks; j++) {
			tmp.len = 0;
			pb__bytes(&tmp, 1, s[i].chunks[j].gz, s[i].chunks[j].len);
			uuid4(id);
			pb__str(&tmp, 2, id);
			if (tmp.err)
				series.err = tmp.err;
			pb__bytes(&series, 2, tmp.p, tmp.len);
		}
		if (series.err)
			out->err = series.err;
		pb__bytes(out, 1, series.p, series.len);
	}
	wbuf__free(&series);
	wbuf__free(&tmp);
	return out->err;
}

/* Appends @s with the characters /ingest's label syntax gives meaning to replaced. */
static void put_ingest_text(struct wbuf *b, const char *s)
{
	for (; *s; s++)
		wbuf__put(b, strchr("{},= ", *s) || (unsigned char)*s < 0x20 ? "_" : s, 1);
}

/*
 * /ingest?name=SERVICE{host=H,k=v}&from=&until=&...: with pprof the name is
 * only the service (__name__ comes from the sample types) and the server
 * adds __delta__=false.  Multipart goes without format, which the server
 * tests before the Content-Type.
 */
char *push_ingest_path(const struct push_enc *e, const char *service, int64_t start_ms,
		       int64_t end_ms)
{
	struct wbuf name = {};
	char *esc = NULL, *path = NULL;
	int i;

	put_ingest_text(&name, service);
	wbuf__put(&name, "{host=", 6);
	put_ingest_text(&name, label_value(e, "host", e->host));
	for (i = 0; i < e->nlabels; i++) {
		if (!strcmp(e->labels[i].name, "host") || !strcmp(e->labels[i].name, "service_name"))
			continue;
		wbuf__put(&name, ",", 1);
		wbuf__put(&name, e->labels[i].name, strlen(e->labels[i].name));
		wbuf__put(&name, "=", 1);
		put_ingest_text(&name, e->labels[i].value);
	}
	wbuf__put(&name, "}", 1);
	if (!name.err)
		esc = e->curl->easy_escape(NULL, (char *)name.p, name.len);
	if (esc && asprintf(&path, "/ingest?name=%s&from=%lld&until=%lld%s&sampleRate=%u"
			    "&spyName=ember", esc, (long long)(start_ms / 1000),
			    (long long)((end_ms + 999) / 1000),
			    e->protocol == PUSH_INGEST ? "&format=pprof" : "", e->freq) < 0)
		path = NULL;
	if (esc)
		e->curl->free(esc);
	wbuf__free(&name);
	return path;
}
