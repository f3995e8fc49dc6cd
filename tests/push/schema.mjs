// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * schema.mjs - Grafana Pyroscope's push.v1 API, written from its field
 * numbers (not copied from Pyroscope), turned into @bufbuild/protobuf
 * descriptors through protobufjs: what the receiver serves and the
 * calibration client calls.
 */
import protobuf from "protobufjs";
import descriptorExt from "protobufjs/ext/descriptor/index.js";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const SCHEMA = `
syntax = "proto3";
package push.v1;
message LabelPair { string name = 1; string value = 2; }
message RawSample { bytes raw_profile = 1; string ID = 2; }
message RawProfileSeries { repeated LabelPair labels = 1; repeated RawSample samples = 2; }
message PushRequest { repeated RawProfileSeries series = 1; }
message PushResponse {}
service PusherService { rpc Push(PushRequest) returns (PushResponse); }
`;

export function pushRegistry() {
  const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
  const set = root.toDescriptor("proto3");
  // protobufjs leaves method types relative; descriptors want them fully qualified
  const q = (t) => (t.startsWith(".") ? t : `.push.v1.${t}`);
  for (const f of set.file) {
    if (!f.name) f.name = "push.proto";
    for (const m of f.messageType || []) for (const fd of m.field || []) {
      if (fd.typeName) fd.typeName = q(fd.typeName);
      // protoc always sets json_name (lowerCamelCase); without it every JSON key is ""
      fd.jsonName = fd.name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    }
    for (const s of f.service || []) for (const m of s.method || []) {
      m.inputType = q(m.inputType);
      m.outputType = q(m.outputType);
    }
  }
  const bytes = descriptorExt.FileDescriptorSet.encode(set).finish();
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
}
