// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * server.c - the HTTP side: binds the listen address (refusing a public one
 * without a token), checks the token on every request, serves the embedded
 * viewer and hands API paths to api.c.  libmicrohttpd runs one thread per
 * connection with a cap on connections and on request header memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "internal.h"

#define MAX_CONNECTIONS 32
#define MAX_PER_IP 16
#define MAX_BUSY 4			/* API requests answered at once; more get 503 */
#define MAX_RESPONSE_BYTES_MB 64
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_REQUEST_BYTES (32 * 1024)	/* request line + headers */
#define TIMEOUT_S 30

struct web {
	struct web_opts o;
	struct MHD_Daemon *d;
	int port;
	int busy;		/* API requests in flight (atomic) */
	char listen_host[INET6_ADDRSTRLEN + 2];	/* as a Host header names it; "" for a wildcard */
};

/* Splits "ADDR:PORT" or "[V6]:PORT" and resolves it numerically ("localhost" too). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	const char *colon = strrchr(s, ':');
	char host[256];
	size_t hl;
	int err;

	if (!colon || colon == s || !colon[1] || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	hl = colon - s;
	if (s[0] == '[' && s[hl - 1] == ']')
		memcpy(host, s + 1, hl -= 2);
	else
		memcpy(host, s, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost"))
		hints.ai_flags |= AI_NUMERICHOST;
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535)
		return -EINVAL;
	err = getaddrinfo(host, colon + 1, &hints, &res);
	if (err || !res)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in = (const void *)ss;
	const struct sockaddr_in6 *in6 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
}

/* Tokens travel in a header, a query string and a cookie: keep them plain. */
static bool token_ok(const char *t)
{
	size_t n = strlen(t);

	return n >= 8 && n <= 256 && strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789._~+/=-") == n;
}

/* The listen address as a Host header names it, unless it is a wildcard. */
static void set_listen_host(struct web *w, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in = (const void *)ss;
	const struct sockaddr_in6 *in6 = (const void *)ss;
	char addr[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET && in->sin_addr.s_addr != htonl(INADDR_ANY) &&
	    inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr)))
		snprintf(w->listen_host, sizeof(w->listen_host), "%s", addr);
	else if (ss->ss_family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) &&
		 inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr)))
		snprintf(w->listen_host, sizeof(w->listen_host), "[%s]", addr);
}

static int bind_socket(const struct sockaddr_storage *ss, socklen_t len, int *port)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err;
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&got, &gl)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port :
			   ((struct sockaddr_in6 *)&got)->sin6_port);
	return fd;
}

/* Compares in time that depends only on the length of @want. */
static bool token_eq(const char *got, const char *want)
{
	size_t gl = strlen(got), wl = strlen(want), i;
	volatile unsigned char diff = gl != wl;

	for (i = 0; i < wl; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(gl ? got[i % gl] : 0);
	return !diff;
}

static const char *header(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name)
{
	return MHD_lookup_connection_value(c, kind, name);
}

/*
 * Whether the request names this server: the listen address, a loopback
 * name, or an --allow-host name.  A web page the user opens can point its
 * own name at the server's address (DNS rebinding) and read the API as
 * same-origin, but its requests still carry its name in Host.  No Host at
 * all (HTTP/1.0 tools) is no browser's request.
 */
static bool host_ok(const struct web *w, struct MHD_Connection *c)
{
	const char *host = header(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST), *port;
	char name[256];
	size_t n;
	int i;

	if (!host)
		return true;
	n = host[0] == '[' ? (strchr(host, ']') ? (size_t)(strchr(host, ']') - host) + 1 : 0) :
			     strcspn(host, ":");
	port = host + n;
	if (!n || n >= sizeof(name) ||
	    (*port && (*port != ':' || strspn(port + 1, "0123456789") != strlen(port + 1))))
		return false;
	memcpy(name, host, n);
	name[n] = '\0';
	if (!strcasecmp(name, "localhost") || !strcmp(name, "[::1]") ||
	    (!strncmp(name, "127.", 4) && strspn(name + 4, "0123456789.") == n - 4) ||
	    (w->listen_host[0] && !strcasecmp(name, w->listen_host)))
		return true;
	for (i = 0; i < w->o.nallow_hosts; i++)
		if (!strcasecmp(name, w->o.allow_hosts[i]))
			return true;
	return false;
}

/* Whether the request carries the token: Bearer header, ?token= or the cookie. */
static bool authorized(const struct web *w, struct MHD_Connection *c, bool *set_cookie)
{
	const char *auth = header(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *q = header(c, MHD_GET_ARGUMENT_KIND, "token");
	const char *cookie = header(c, MHD_COOKIE_KIND, "ember_token");

	*set_cookie = false;
	if (!w->o.token)
		return true;
	if (auth && !strncmp(auth, "Bearer ", 7) && token_eq(auth + 7, w->o.token))
		return true;
	if (q && token_eq(q, w->o.token))
		return *set_cookie = true;
	return cookie && token_eq(cookie, w->o.token);
}

static const char *param_of(void *ctx, const char *name)
{
	return header(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	return "application/octet-stream";
}

/* Fills @rep for the viewer's files; -ENOENT when @url is not one. */
static int serve_asset(const char *url, struct web_reply *rep)
{
	const struct export_asset *a;

	if (!strcmp(url, "/"))
		url = "/index.html";
	if (url[0] != '/' || strchr(url + 1, '/') || !(a = export__asset(url + 1)))
		return -ENOENT;
	rep->status = 200;
	rep->type = type_of(a->name);
	wbuf__put(&rep->body, a->data, a->len);
	return 0;
}

static void add_headers(struct MHD_Response *r, const struct web_reply *rep, bool set_cookie,
			const char *token)
{
	char cookie[320];

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->type);
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (rep->disposition)
		MHD_add_response_header(r, "Content-Disposition", rep->disposition);
	if (rep->status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (set_cookie) {
		snprintf(cookie, sizeof(cookie),
			 "ember_token=%s; Path=/; HttpOnly; SameSite=Strict", token);
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	}
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct web_reply *rep,
				  bool set_cookie, const char *token)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rep->body.err == -E2BIG)
		api__error(rep, 413, "the answer would pass " STR(MAX_RESPONSE_BYTES_MB) " MB: "
			   "narrow the range or the filters, or lower max_nodes or limit");
	else if (rep->body.err)
		api__error(rep, 503, "out of memory");
	if (rep->stream_fd > 0)	/* the response owns the descriptor */
		r = MHD_create_response_from_pipe(rep->stream_fd);
	else
		r = MHD_create_response_from_buffer(rep->body.len,
						    rep->body.p ? rep->body.p : "",
						    rep->body.p ? MHD_RESPMEM_MUST_FREE :
								  MHD_RESPMEM_PERSISTENT);
	if (!r) {
		wbuf__free(&rep->body);
		if (rep->stream_fd > 0)
			close(rep->stream_fd);
		return MHD_NO;
	}
	rep->body = (struct wbuf){};	/* the response owns the bytes now */
	add_headers(r, rep, set_cookie, token);
	ret = MHD_queue_response(c, rep->status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Routes one request; fills @rep.  At most MAX_BUSY API requests run at
 * once, each with its time budget, so a burst of heavy ones cannot take
 * the server's memory or every connection.
 */
static void route(struct web *w, struct MHD_Connection *c, const char *url,
		  struct web_reply *rep)
{
	struct api_req req = { .db = w->o.db, .path = url, .param = param_of, .param_ctx = c,
			       .metrics = &w->o.metrics };

	if (!serve_asset(url, rep))
		return;
	if (__atomic_add_fetch(&w->busy, 1, __ATOMIC_SEQ_CST) > MAX_BUSY)
		api__error(rep, 503, "too many requests at once: try again");
	else if (api__handle(&req, rep) == -ENOENT)
		api__error(rep, 404, "no such page");
	__atomic_sub_fetch(&w->busy, 1, __ATOMIC_SEQ_CST);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct web_reply rep = { .status = 200, .type = "application/json",
				 .body = { .max = (size_t)MAX_RESPONSE_BYTES_MB << 20 } };
	const char *clen = header(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	bool set_cookie = false;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		api__error(&rep, 405, "only GET and HEAD are served");
	else if (clen && strcmp(clen, "0"))
		api__error(&rep, 413, "requests carry no body");
	else if (!host_ok(w, c))
		api__error(&rep, 403, "the Host header names another server: this one answers its "
			   "listen address, localhost, 127.0.0.1, [::1] and the names given with "
			   "--allow-host");
	else if (!authorized(w, c, &set_cookie))
		api__error(&rep, 401, "missing or wrong token");
	else
		route(w, c, url, &rep);
	return send_reply(c, &rep, set_cookie, w->o.token);
}

/*
 * Starts the daemon with every signal blocked, so its threads inherit the
 * mask and SIGINT/SIGTERM reach the caller's thread, which waits for them.
 */
static int start(struct web *w, const struct sockaddr_storage *ss, int fd)
{
	/* poll(), not select(): the agent's descriptors can pass FD_SETSIZE */
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL;
	sigset_t all, old;

	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	w->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)MAX_PER_IP,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MAX_REQUEST_BYTES,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)TIMEOUT_S,
				MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!w->d) {
		close(fd);
		return -EIO;
	}
	return 0;
}

int web__new(const struct web_opts *o, struct web **out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct web *w;
	int err, fd;

	*out = NULL;
	err = parse_listen(o->listen ? o->listen : WEB_DEFAULT_LISTEN, &ss, &len);
	if (err)
		return err;
	if (o->token && !token_ok(o->token))
		return -EBADMSG;
	if (!o->token && !o->insecure_public && !is_loopback(&ss))
		return -EACCES;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->o = *o;
	set_listen_host(w, &ss);
	fd = bind_socket(&ss, len, &w->port);
	err = fd < 0 ? fd : start(w, &ss, fd);
	if (err) {
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

void web__free(struct web *w)
{
	if (!w)
		return;
	if (w->d)
		MHD_stop_daemon(w->d);
	free(w);
}

int web__port(const struct web *w)
{
	return w->port;
}

const char *web__strerror(int err)
{
	switch (err) {
	case -EINVAL:
		return "invalid listen address: expected ADDR:PORT or [V6ADDR]:PORT";
	case -EBADMSG:
		return "invalid token: 8-256 characters from A-Z a-z 0-9 . _ ~ + / = -";
	case -EACCES:
		return "listening on a non-loopback address needs --token TOKEN "
		       "(or --insecure-public to serve without one)";
	case -EADDRINUSE:
		return "address already in use";
	case -EIO:
		return "cannot start the HTTP server";
	}
	return strerror(-err);
}
