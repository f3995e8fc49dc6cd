// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * http.c - the push thread's HTTP client: one libcurl easy handle (kept
 * alive between requests), the protocol's headers, HTTP Basic or Bearer,
 * X-Scope-OrgID, a private CA, multipart for /ingest.  Credentials live
 * here and go to libcurl only; they are wiped when freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define CONNECT_TIMEOUT_MS 5000

struct push_http {
	const struct curl_api *api;
	CURL *curl;
	char *url, *user, *password, *token, *tenant, *ca_file;
	enum push_protocol protocol;
	int (*abort)(void *ctx);
	void *ctx;
	char reply[PUSH_REPLY_MAX + 1];
	size_t reply_len;
};

static size_t on_reply(char *data, size_t size, size_t n, void *ctx)
{
	struct push_http *h = ctx;
	size_t take = size * n, room = PUSH_REPLY_MAX - h->reply_len;

	memcpy(h->reply + h->reply_len, data, take < room ? take : room);
	h->reply_len += take < room ? take : room;
	return size * n;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct push_http *h = ctx;

	(void)dt, (void)dn, (void)ut, (void)un;
	return h->abort ? h->abort(h->ctx) : 0;
}

static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void push_http__free(struct push_http *h)
{
	if (!h)
		return;
	if (h->curl)
		h->api->easy_cleanup(h->curl);
	free(h->url);
	free(h->user);
	free_secret(h->password);
	free_secret(h->token);
	free(h->tenant);
	free(h->ca_file);
	free(h);
}

struct push_http *push_http__new(const struct push_http_opts *o)
{
	struct push_http *h = calloc(1, sizeof(*h));
	CURL *c;

	if (!h)
		return NULL;
	h->api = o->curl;
	h->protocol = o->protocol;
	h->abort = o->abort;
	h->ctx = o->ctx;
	if (!(h->url = strdup(o->url)) || (o->user && !(h->user = strdup(o->user))) ||
	    (o->password && !(h->password = strdup(o->password))) ||
	    (o->token && !(h->token = strdup(o->token))) ||
	    (o->tenant && !(h->tenant = strdup(o->tenant))) ||
	    (o->ca_file && !(h->ca_file = strdup(o->ca_file))) || !(h->curl = o->curl->easy_init())) {
		push_http__free(h);
		errno = ENOMEM;
		return NULL;
	}
	c = h->curl;
	h->api->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	h->api->easy_setopt(c, CURLOPT_USERAGENT, "ember");
	h->api->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	h->api->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
	h->api->easy_setopt(c, CURLOPT_WRITEDATA, h);
	h->api->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	h->api->easy_setopt(c, CURLOPT_XFERINFODATA, h);
	h->api->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (h->ca_file)
		h->api->easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (h->token) {
		h->api->easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		h->api->easy_setopt(c, CURLOPT_XOAUTH2_BEARER, h->token);
	} else if (h->user) {
		h->api->easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		h->api->easy_setopt(c, CURLOPT_USERNAME, h->user);
		h->api->easy_setopt(c, CURLOPT_PASSWORD, h->password ? h->password : "");
	}
	return h;
}

static struct curl_slist *add_header(struct push_http *h, struct curl_slist *l, const char *line,
				     bool *nomem)
{
	struct curl_slist *n = h->api->slist_append(l, line);

	if (!n)
		*nomem = true;
	return n ? n : l;
}

CURLcode push_http__send(struct push_http *h, const struct push_req *r, double timeout_s,
			 long *status)
{
	struct curl_slist *l = NULL;
	curl_mime *mime = NULL;
	curl_mimepart *part;
	char *url = NULL, tenant[300];
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURL *c = h->curl;
	bool nomem = false;

	*status = 0;
	h->reply_len = 0;
	if (asprintf(&url, "%s%s", h->url, r->path) < 0) {
		url = NULL;
		goto cleanup;
	}
	if (h->protocol == PUSH_CONNECT) {
		l = add_header(h, l, "Content-Type: application/proto", &nomem);
		l = add_header(h, l, "Connect-Protocol-Version: 1", &nomem);
	} else if (!r->multipart) {
		l = add_header(h, l, "Content-Type: application/octet-stream", &nomem);
	}
	l = add_header(h, l, "Expect:", &nomem);	/* no 100-continue round trip */
	if (h->tenant) {
		snprintf(tenant, sizeof(tenant), "X-Scope-OrgID: %s", h->tenant);
		l = add_header(h, l, tenant, &nomem);
	}
	if (nomem)
		goto cleanup;
	h->api->easy_setopt(c, CURLOPT_URL, url);
	h->api->easy_setopt(c, CURLOPT_HTTPHEADER, l);
	h->api->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000) + 1);
	if (r->multipart) {
		mime = h->api->mime_init(c);
		part = mime ? h->api->mime_addpart(mime) : NULL;
		if (!part || h->api->mime_name(part, "profile") ||
		    h->api->mime_filename(part, "profile.pprof") ||
		    h->api->mime_type(part, "application/octet-stream") ||
		    h->api->mime_data(part, (const char *)r->body, r->len))
			goto cleanup;
		h->api->easy_setopt(c, CURLOPT_MIMEPOST, mime);
	} else {
		h->api->easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
		h->api->easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	}
	rc = h->api->easy_perform(c);
	h->api->easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK)
		*status = 0;
cleanup:
	h->api->easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	h->api->easy_setopt(c, CURLOPT_MIMEPOST, NULL);
	h->api->mime_free(mime);
	h->api->slist_free_all(l);
	free(url);
	return rc;
}

const char *push_http__reply(struct push_http *h)
{
	size_t i;

	for (i = 0; i < h->reply_len; i++)
		if ((unsigned char)h->reply[i] < 0x20 || (unsigned char)h->reply[i] > 0x7e)
			h->reply[i] = ' ';
	h->reply[h->reply_len] = '\0';
	return h->reply_len ? h->reply : "(empty reply)";
}
