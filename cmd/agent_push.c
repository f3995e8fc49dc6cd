// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * agent_push.c - `ember agent --push`'s flags and /metrics rows, kept out
 * of agent.c, which only starts the pusher and hands it every window.
 * Secrets come from files (argv is public in /proc) and go nowhere but
 * the pusher.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "commands.h"
#include "file.h"
#include "web.h"

/* Reads the first line of @path into @buf; returns 0 or 2 after a usage error. */
static int read_secret(const char *flag, const char *path, char *buf, size_t size)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = file__open_regular(path, size - 1, &st);
	if (fd < 0)
		return usage_error("agent", "cannot read %s '%s': %s", flag, path,
				   fd == -EFBIG ? "too long" : strerror(-fd));
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return usage_error("agent", "cannot read %s '%s': %s", flag, path, strerror(errno));
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!*buf)
		return usage_error("agent", "%s '%s' is empty", flag, path);
	if (st.st_mode & 077)
		fprintf(stderr, "ember agent: warning: %s '%s' is readable by other users\n", flag,
			path);
	return 0;
}

int parse_push_flag(struct push_flags *f, int flag, char *arg)
{
	struct push_opts *o = &f->o;
	char *eq, *end;
	long v;

	switch (flag) {
	case PUSH_FLAG_URL:
		o->url = arg;
		return 0;
	case PUSH_FLAG_PROTOCOL:
		if (!strcmp(arg, "connect"))
			o->protocol = PUSH_CONNECT;
		else if (!strcmp(arg, "ingest"))
			o->protocol = PUSH_INGEST;
		else if (!strcmp(arg, "ingest-multipart"))
			o->protocol = PUSH_INGEST_MULTIPART;
		else
			return usage_error("agent", "invalid --push-protocol '%s': expected connect, "
					   "ingest or ingest-multipart", arg);
		return 0;
	case PUSH_FLAG_LABEL:
		eq = strchr(arg, '=');
		if (!eq || eq == arg)
			return usage_error("agent", "invalid --push-label '%s': expected NAME=VALUE",
					   arg);
		if (o->nlabels == PUSH_MAX_LABELS)
			return usage_error("agent", "too many --push-label: the server takes %d "
					   "labels in all", PUSH_MAX_LABELS);
		*eq = '\0';
		f->labels[o->nlabels++] = (struct push_label){ .name = arg, .value = eq + 1 };
		o->labels = f->labels;
		return 0;
	case PUSH_FLAG_USER:
		o->user = arg;
		return 0;
	case PUSH_FLAG_PASSWORD_FILE:
		o->password = f->password;
		return read_secret("--push-password-file", arg, f->password, sizeof(f->password));
	case PUSH_FLAG_TOKEN_FILE:
		o->token = f->token;
		return read_secret("--push-token-file", arg, f->token, sizeof(f->token));
	case PUSH_FLAG_TENANT:
		o->tenant = arg;
		return 0;
	case PUSH_FLAG_CA_FILE:
		o->ca_file = arg;
		return 0;
	case PUSH_FLAG_QUEUE:
		v = strtol(arg, &end, 10);
		if (*end || end == arg || v < 1 || v > 100000)
			return usage_error("agent", "invalid --push-queue '%s': expected 1-100000 "
					   "windows", arg);
		o->max_windows = v;
		return 0;
	}
	return -ENOENT;
}

int push_flags__check(struct push_flags *f)
{
	const struct push_opts *o = &f->o;
	const char *why;
	int i, j;

	if (!o->url) {
		if (o->protocol || o->nlabels || o->user || o->password || o->token || o->tenant ||
		    o->ca_file || o->max_windows)
			return usage_error("agent", "--push-* options need --push URL");
		return 0;
	}
	if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8))
		return usage_error("agent", "invalid --push '%s': expected http:// or https://",
				   o->url);
	if (o->token && (o->user || o->password))
		return usage_error("agent", "--push-token-file and --push-user are exclusive");
	if (!!o->user != !!o->password)
		return usage_error("agent", "--push-user and --push-password-file go together");
	for (i = 0; i < o->nlabels; i++) {
		why = push_label__check(&o->labels[i], o->protocol);
		for (j = 0; !why && j < i; j++)
			if (!strcmp(o->labels[i].name, o->labels[j].name))
				why = "given twice";
		if (why)
			return usage_error("agent", "invalid --push-label '%s': %s",
					   o->labels[i].name, why);
	}
	return 0;
}

int push_metrics__add(const struct push_stats *ps, struct web_metrics *m)
{
	const char *names[PUSH_DROP_MAX];
	double dropped[PUSH_DROP_MAX];
	struct push_stats s = *ps;
	int i, err;

	for (i = 0; i < PUSH_DROP_MAX; i++) {
		names[i] = push_drop_name(i);
		dropped[i] = s.dropped[i];
	}
	err = web_metrics__add(m, "push_sent_total", "Push requests the server took (2xx).",
			       WEB_COUNTER, s.sent);
	if (!err)
		err = web_metrics__add(m, "push_retries_total", "Push attempts that failed "
				       "(timeout, connection, 429, 5xx) and were retried.",
				       WEB_COUNTER, s.retries);
	if (!err)
		err = web_metrics__add_labeled(m, "push_dropped_total", "Push requests given up, "
					       "by reason.", WEB_COUNTER, "reason", names, dropped,
					       PUSH_DROP_MAX);
	if (!err)
		err = web_metrics__add(m, "push_bytes_total", "Request body bytes delivered.",
				       WEB_COUNTER, s.bytes);
	if (!err)
		err = web_metrics__add(m, "push_queue_windows", "Windows waiting to be pushed.",
				       WEB_GAUGE, s.queue_windows);
	if (!err)
		err = web_metrics__add(m, "push_last_success_timestamp_seconds", "Unix time of "
				       "the last delivered push (0: none yet).", WEB_GAUGE,
				       s.last_success);
	return err;
}
