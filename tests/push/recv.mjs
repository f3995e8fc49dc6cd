// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * recv.mjs - a reference receiver for ember's fleet push: Grafana
 * Pyroscope's push.v1.PusherService/Push served by @connectrpc/connect-node
 * (the reference Connect implementation) from a schema written from the
 * field numbers, plus the legacy /ingest (raw pprof and multipart).  It
 * applies Pyroscope's checks (pkg/validation) with its status classes,
 * decodes every pprof (pprof-format) and records what arrived; tests read
 * the record and steer faults over /_control.
 *
 * Prints {"port": N} once listening.
 * usage: node recv.mjs [--port N] [--save DIR] [--tls CERT KEY]
 *   --save DIR: every accepted pprof is also written to DIR/N.pb.gz
 *   GET /_log                  every request so far (JSON array)
 *   GET /_control?fail=503&count=3 | delay=SECONDS&count=N | reset=N | clear=1
 */
import http from "node:http";
import https from "node:https";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import busboy from "busboy";
import { Profile } from "pprof-format";
import { pushRegistry } from "./schema.mjs";
import { ConnectError, Code } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

const MAX_LABELS = 30, MAX_NAME = 1024, MAX_VALUE = 2048;
const MAX_SAMPLES = 16000, MAX_BYTES = 4 << 20;
const NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

class Invalid extends Error {}

function checkLabels(labels) {
  if (!labels.length) throw new Invalid("no labels");
  if (labels.length > MAX_LABELS) throw new Invalid(`${labels.length} labels, max ${MAX_LABELS}`);
  const seen = new Set();
  for (const { name, value } of labels) {
    if (name.length > MAX_NAME) throw new Invalid(`label name too long: ${name.length}`);
    if (value.length > MAX_VALUE) throw new Invalid(`label value too long: ${value.length}`);
    if (!NAME_RE.test(name)) throw new Invalid(`invalid label name '${name}'`);
    if (seen.has(name)) throw new Invalid(`duplicate label name '${name}'`);
    seen.add(name);
  }
  const m = labels.find((l) => l.name === "__name__");
  if (!m || !METRIC_RE.test(m.value)) throw new Invalid("missing or invalid __name__");
  if (!labels.find((l) => l.name === "service_name")) throw new Invalid("missing service_name");
}

/* Decodes a (gzipped) pprof, applies the profile limits, returns a summary. */
let saveDir = null, saved = 0;

function decodeProfile(raw) {
  let buf = Buffer.from(raw);
  const file = saveDir ? path.join(saveDir, `${saved++}.pb.gz`) : null;
  if (file) fs.writeFileSync(file, buf);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  if (buf.length > MAX_BYTES) throw new Invalid(`profile ${buf.length} bytes uncompressed, max ${MAX_BYTES}`);
  let p;
  try { p = Profile.decode(buf); } catch (e) { throw new Invalid(`not a pprof: ${e.message}`); }
  if (p.sample.length > MAX_SAMPLES) throw new Invalid(`${p.sample.length} samples, max ${MAX_SAMPLES}`);
  const str = (i) => p.stringTable.strings[Number(i)];
  const tn = Number(p.timeNanos);
  const nowNs = Date.now() * 1e6;
  if (tn > 0 && (tn < nowNs - 3600e9 || tn > nowNs + 600e9)) throw new Invalid(`time_nanos ${tn} out of range`);
  const funcs = new Map(p.function.map((f) => [Number(f.id), str(f.name)]));
  const locs = new Map(p.location.map((l) => [Number(l.id), l.line.map((ln) => funcs.get(Number(ln.functionId)))]));
  const stacks = {};
  const totals = p.sampleType.map(() => 0);
  for (const s of p.sample) {
    const frames = [];
    for (const id of s.locationId) frames.push(...(locs.get(Number(id)) || ["?"]));
    const key = frames.reverse().join(";");   // root first, as folded
    const vals = s.value.map(Number);
    vals.forEach((v, i) => { totals[i] += v; });
    stacks[key] = (stacks[key] || 0) + vals[0];
  }
  return {
    sampleTypes: p.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`),
    periodType: p.periodType ? `${str(p.periodType.type)}/${str(p.periodType.unit)}` : null,
    period: Number(p.period), timeNanos: tn, durationNanos: Number(p.durationNanos),
    samples: p.sample.length, totals, stacks, bytes: buf.length, file,
    functions: [...new Set(funcs.values())],
  };
}

const log = [];
const control = { fail: 0, failCount: 0, delay: 0, delayCount: 0, reset: 0 };

function headersOf(req) {
  const h = {};
  for (const k of ["authorization", "x-scope-orgid", "content-type", "connect-protocol-version",
    "content-encoding", "user-agent"]) if (req.headers[k] !== undefined) h[k] = req.headers[k];
  return h;
}

function record(kind, req, extra) {
  const e = { kind, t: Date.now(), path: req.url, headers: headersOf(req), ...extra };
  log.push(e);
  return e;
}

const registry = pushRegistry();
const PusherService = registry.getService("push.v1.PusherService");

const connectHandler = connectNodeAdapter({
  routes(router) {
    router.service(PusherService, {
      async push(request, ctx) {
        const series = [];
        try {
          for (const s of request.series) {
            const labels = s.labels.map((l) => ({ name: l.name, value: l.value }));
            checkLabels(labels);
            const profiles = s.samples.map((r) => ({ id: r.ID, ...decodeProfile(r.rawProfile) }));
            series.push({ labels: Object.fromEntries(labels.map((l) => [l.name, l.value])), profiles });
          }
        } catch (e) {
          if (e instanceof Invalid) throw new ConnectError(e.message, Code.InvalidArgument);
          throw e;
        }
        lastAccepted = { series };
        return {};
      },
    });
  },
});
let lastAccepted = null;

function reply(res, status, body, type = "text/plain") {
  res.writeHead(status, { "content-type": type });
  res.end(body);
}

function ingestAccept(req, res, query, raw, via) {
  try {
    const name = query.get("name") || "";
    const m = /^([^{]*)(?:\{(.*)\})?$/.exec(name);
    if (!m || !m[1]) throw new Invalid("bad name");
    const labels = { service_name: m[1] };
    for (const kv of (m[2] || "").split(",").filter(Boolean)) {
      const i = kv.indexOf("=");
      if (i <= 0) throw new Invalid(`bad label '${kv}'`);
      labels[kv.slice(0, i)] = kv.slice(i + 1);
    }
    if (via === "raw" && query.get("format") !== "pprof") throw new Invalid("raw body without format=pprof");
    if (via === "multipart" && query.get("format")) throw new Invalid("multipart must go without format");
    const profile = decodeProfile(raw);
    record("ingest", req, { via, status: 200, labels, query: Object.fromEntries(query), profiles: [profile] });
    reply(res, 200, "");
  } catch (e) {
    const status = e instanceof Invalid ? 400 : 422;
    record("ingest", req, { via, status, error: e.message });
    reply(res, status, e.message);
  }
}

function handleIngest(req, res, query) {
  const type = req.headers["content-type"] || "";
  if (type.startsWith("multipart/form-data")) {
    let bb;
    try { bb = busboy({ headers: req.headers }); } catch (e) { return reply(res, 400, e.message); }
    const chunks = [];
    let found = false;
    bb.on("file", (field, stream) => {
      if (field !== "profile") return stream.resume();
      found = true;
      stream.on("data", (d) => chunks.push(d));
    });
    bb.on("close", () => {
      if (!found) { record("ingest", req, { via: "multipart", status: 400, error: "no profile field" }); return reply(res, 400, "no profile field"); }
      ingestAccept(req, res, query, Buffer.concat(chunks), "multipart");
    });
    req.pipe(bb);
    return;
  }
  const chunks = [];
  req.on("data", (d) => chunks.push(d));
  req.on("end", () => ingestAccept(req, res, query, Buffer.concat(chunks), "raw"));
}

async function handler(req, res) {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/_log") return reply(res, 200, JSON.stringify(log), "application/json");
  if (url.pathname === "/_control") {
    const q = url.searchParams;
    if (q.get("clear")) log.length = 0;
    if (q.get("fail")) { control.fail = Number(q.get("fail")); control.failCount = Number(q.get("count") || 1e9); }
    if (q.get("delay")) { control.delay = Number(q.get("delay")); control.delayCount = Number(q.get("count") || 1e9); }
    if (q.get("reset")) control.reset = Number(q.get("reset"));
    if (q.get("ok")) Object.assign(control, { fail: 0, failCount: 0, delay: 0, delayCount: 0, reset: 0 });
    return reply(res, 200, JSON.stringify(control), "application/json");
  }
  if (control.reset > 0) {
    control.reset--;
    record("fault", req, { fault: "reset" });
    req.socket.destroy();
    return;
  }
  if (control.delayCount > 0) {
    control.delayCount--;
    record("fault", req, { fault: "delay", seconds: control.delay });
    await new Promise((r) => setTimeout(r, control.delay * 1000));
  }
  if (control.failCount > 0) {
    control.failCount--;
    record("fault", req, { fault: "status", status: control.fail });
    req.resume();
    const body = JSON.stringify({ code: control.fail === 429 ? "resource_exhausted" : control.fail === 400 ? "invalid_argument" : "unavailable", message: `injected ${control.fail}` });
    return reply(res, control.fail, body, "application/json");
  }
  if (url.pathname === "/ingest" || url.pathname === "/pyroscope/ingest") return handleIngest(req, res, url.searchParams);
  if (url.pathname === "/push.v1.PusherService/Push") {
    lastAccepted = null;
    res.on("finish", () => {
      if (lastAccepted) record("push", req, { status: res.statusCode, ...lastAccepted });
      else record("push", req, { status: res.statusCode, error: "rejected" });
    });
  }
  connectHandler(req, res);
}

const opt = { port: 0, save: null, tls: null };
for (let a = process.argv.slice(2); a.length;) {
  const k = a.shift();
  if (k === "--tls") opt.tls = [a.shift(), a.shift()];
  else if (k === "--port") opt.port = Number(a.shift());
  else if (k === "--save") opt.save = a.shift();
  else { console.error(`unknown argument ${k}`); process.exit(2); }
}
saveDir = opt.save;
const server = opt.tls
  ? https.createServer({ cert: fs.readFileSync(opt.tls[0]), key: fs.readFileSync(opt.tls[1]) }, handler)
  : http.createServer(handler);
server.listen(opt.port, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
