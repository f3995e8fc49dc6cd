// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * calibrate.mjs - proves the reference receiver (recv.mjs) right before
 * ember is tested against it: independent clients must get through
 * (Grafana's Node SDK @pyroscope/nodejs on /ingest; the connect-node
 * client in binary, JSON and gzip; curl's multipart), malformed requests
 * must be refused with Pyroscope's status classes, and the fault knobs
 * must do what they say.  One PASS/FAIL line per test.
 */
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { Profile, ValueType, Sample, Location, Line, Function as PFunction, StringTable } from "pprof-format";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport, compressionGzip } from "@connectrpc/connect-node";
import { pushRegistry } from "./schema.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
let failed = 0;

async function test(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${String(e && e.message || e).replace(/\s+/g, " ").slice(0, 300)}`);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

function startReceiver() {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(HERE, "recv.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
    p.stdout.once("data", (d) => resolve({ proc: p, port: JSON.parse(String(d).split("\n")[0]).port }));
    p.once("exit", (c) => reject(new Error(`receiver exited ${c}`)));
  });
}

/* A gzipped pprof: @n distinct stacks of calib_main;calib_leaf_i, 1 sample each. */
function makeProfile(n, timeNanos = BigInt(Date.now()) * 1000000n) {
  const st = new StringTable();
  const functions = [], locations = [], samples = [];
  const mainName = st.dedup("calib_main");
  functions.push(new PFunction({ id: 1, name: mainName }));
  locations.push(new Location({ id: 1, line: [new Line({ functionId: 1 })] }));
  for (let i = 0; i < n; i++) {
    functions.push(new PFunction({ id: i + 2, name: st.dedup(`calib_leaf_${i}`) }));
    locations.push(new Location({ id: i + 2, line: [new Line({ functionId: i + 2 })] }));
    samples.push(new Sample({ locationId: [i + 2, 1], value: [1, 10000000] }));
  }
  const p = new Profile({
    sampleType: [new ValueType({ type: st.dedup("samples"), unit: st.dedup("count") }),
      new ValueType({ type: st.dedup("cpu"), unit: st.dedup("nanoseconds") })],
    periodType: new ValueType({ type: st.dedup("cpu"), unit: st.dedup("nanoseconds") }),
    period: 10000000, timeNanos, durationNanos: 10000000000n,
    sample: samples, location: locations, function: functions, stringTable: st,
  });
  return zlib.gzipSync(p.encode());
}

const LABELS = [{ name: "__name__", value: "process_cpu" }, { name: "service_name", value: "calib" }];

async function main() {
  const { proc, port } = await startReceiver();
  const base = `http://127.0.0.1:${port}`;
  const logOf = async () => (await fetch(`${base}/_log`)).json();
  const ctl = (q) => fetch(`${base}/_control?${q}`);
  const svc = pushRegistry().getService("push.v1.PusherService");
  const client = (opts = {}) => createClient(svc, createConnectTransport({ baseUrl: base, httpVersion: "1.1", ...opts }));
  const req = (labels = LABELS, raw = makeProfile(3)) => ({ series: [{ labels, samples: [{ rawProfile: raw, ID: "x" }] }] });
  const lastPush = async () => (await logOf()).filter((e) => e.kind === "push").pop();
  const expectCode = async (fn, code) => {
    try { await fn(); } catch (e) {
      assert(e instanceof ConnectError, `not a ConnectError: ${e}`);
      assert(e.code === code, `code ${Code[e.code]}, expected ${Code[code]}`);
      return;
    }
    throw new Error(`accepted, expected ${Code[code]}`);
  };

  await test("calib_connect_binary", async () => {
    await client().push(req());
    const e = await lastPush();
    assert(e.status === 200, `status ${e.status}`);
    assert(e.headers["content-type"] === "application/proto", e.headers["content-type"]);
    const p = e.series[0].profiles[0];
    assert(p.samples === 3 && p.totals[1] === 30000000, JSON.stringify(p.totals));
    assert(p.stacks["calib_main;calib_leaf_2"] === 1, JSON.stringify(p.stacks));
  });
  await test("calib_connect_json", async () => {
    await client({ useBinaryFormat: false }).push(req());
    const e = await lastPush();
    assert(e.status === 200 && e.headers["content-type"] === "application/json", JSON.stringify(e.headers));
  });
  await test("calib_connect_gzip", async () => {
    await client({ sendCompression: compressionGzip, compressMinBytes: 1 }).push(req());
    const e = await lastPush();
    assert(e.status === 200 && e.headers["content-encoding"] === "gzip", JSON.stringify(e.headers));
  });
  await test("calib_reject_no_service_name", () =>
    expectCode(() => client().push(req([LABELS[0]])), Code.InvalidArgument));
  await test("calib_reject_duplicate_label", () =>
    expectCode(() => client().push(req([...LABELS, LABELS[1]])), Code.InvalidArgument));
  await test("calib_reject_31_labels", () =>
    expectCode(() => client().push(req([...LABELS, ...Array.from({ length: 29 }, (_, i) => ({ name: `l${i}`, value: "v" }))])), Code.InvalidArgument));
  await test("calib_reject_old_time", () =>
    expectCode(() => client().push(req(LABELS, makeProfile(1, BigInt(Date.now() - 7200e3) * 1000000n))), Code.InvalidArgument));
  await test("calib_reject_16001_samples", () =>
    expectCode(() => client().push(req(LABELS, makeProfile(16001))), Code.InvalidArgument));
  await test("calib_accept_16000_samples", async () => {
    await client().push(req(LABELS, makeProfile(16000)));
  });
  await test("calib_reject_garbage", async () => {
    const r = await fetch(`${base}/push.v1.PusherService/Push`, { method: "POST", body: "garbage",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" } });
    assert(r.status >= 400, `status ${r.status}`);
    const j = await r.json();
    assert(j.code && j.message, JSON.stringify(j));
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ember-calib-"));
  const file = path.join(tmp, "p.pb.gz");
  fs.writeFileSync(file, makeProfile(2));
  const now = Math.floor(Date.now() / 1000);
  const curl = (args) => execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", ...args]).toString();
  await test("calib_ingest_multipart_curl", async () => {
    const code = curl(["-F", `profile=@${file}`, `${base}/ingest?name=calib%7Benv%3Dx%7D&from=${now - 10}&until=${now}`]);
    assert(code === "200", `status ${code}`);
    const e = (await logOf()).filter((x) => x.kind === "ingest").pop();
    assert(e.via === "multipart" && e.labels.env === "x" && e.profiles[0].samples === 2, JSON.stringify(e));
  });
  await test("calib_ingest_multipart_with_format_refused", async () => {
    const code = curl(["-F", `profile=@${file}`, `${base}/ingest?name=calib&format=pprof`]);
    assert(code === "400", `status ${code}`);
  });
  await test("calib_ingest_raw_garbage_refused", async () => {
    const code = curl(["--data-binary", "garbage", "-H", "Content-Type: application/octet-stream", `${base}/ingest?name=calib&format=pprof`]);
    assert(code[0] === "4", `status ${code}`);
  });

  await test("calib_nodejs_sdk", async () => {
    const Pyroscope = (await import("@pyroscope/nodejs")).default;
    Pyroscope.init({ serverAddress: base, appName: "sdkcalib", basicAuthUser: "u1", basicAuthPassword: "p1",
      tenantID: "t1", flushIntervalMs: 60000, tags: { region: "r1" } });
    Pyroscope.startCpuProfiling();
    const until = Date.now() + 1500;
    let x = 0;
    function calibBurn() { while (Date.now() < until) x += Math.sqrt(x + 1); }
    calibBurn();
    await Pyroscope.stopCpuProfiling();
    let e;
    for (let i = 0; i < 50 && !e; i++) {
      e = (await logOf()).find((x) => x.kind === "ingest" && x.labels && x.labels.service_name.startsWith("sdkcalib"));
      if (!e) await new Promise((r) => setTimeout(r, 100));
    }
    assert(e, "the SDK's upload never arrived");
    assert(e.status === 200, `status ${e.status}: ${e.error}`);
    assert(e.via === "raw" && e.query.format === "pprof", JSON.stringify(e.query));
    assert(e.headers.authorization === `Basic ${Buffer.from("u1:p1").toString("base64")}`, "no Basic auth");
    assert(e.headers["x-scope-orgid"] === "t1", "no tenant");
    assert(e.profiles[0].functions.some((f) => f.includes(":calibBurn:")), `calibBurn not among ${JSON.stringify(e.profiles[0].functions)}`);
  });

  await test("calib_fault_status", async () => {
    await ctl("fail=503&count=1");
    await expectCode(() => client().push(req()), Code.Unavailable);
    await ctl("fail=429&count=1");
    await expectCode(() => client().push(req()), Code.ResourceExhausted);
    await client().push(req());
  });
  await test("calib_fault_reset", async () => {
    await ctl("reset=1");
    let err;
    try { await client().push(req()); } catch (e) { err = e; }
    assert(err, "a reset connection succeeded");
    await client().push(req());
  });
  await test("calib_fault_delay", async () => {
    await ctl("delay=1&count=1");
    const t0 = Date.now();
    await client().push(req());
    assert(Date.now() - t0 >= 900, `reply after ${Date.now() - t0} ms`);
  });
  fs.rmSync(tmp, { recursive: true, force: true });
  proc.kill();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => { console.log(`FAIL calib_setup: ${e.message}`); process.exit(1); });
