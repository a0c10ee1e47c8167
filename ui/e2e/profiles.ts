// Synthetic pprof profiles with known stacks and values, pushed through WriteRaw over gRPC-Web (what
// agents and `kiln push` use), for the parts of the UI a single real profile cannot show: several
// series, profiles spread over time, and two sides that differ on purpose for compare mode.
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ProfileSchema } from "../src/gen/perftools/profiles/profile_pb";
import { ProfileStoreService } from "../src/gen/parca/profilestore/v1alpha1/profilestore_pb";

/** A stack from the root down to the leaf, `binary:function` per frame, and its CPU nanoseconds. */
export type StackValue = [frames: string[], nanoseconds: number];

/** A Go-like CPU profile (samples/count and cpu/nanoseconds) of the given stacks. */
export function cpuProfile(stacks: StackValue[], timeMs: number, durationMs = 10_000): Uint8Array {
  const strings = [""];
  const str = (s: string) => {
    let k = strings.indexOf(s);
    if (k < 0) k = strings.push(s) - 1;
    return BigInt(k);
  };
  const mappings = new Map<string, bigint>();
  const functions = new Map<string, bigint>();
  const locations = new Map<string, bigint>();
  const sampleType = [
    { type: str("samples"), unit: str("count") },
    { type: str("cpu"), unit: str("nanoseconds") },
  ];
  const periodType = { type: str("cpu"), unit: str("nanoseconds") };
  // Plain objects, turned into messages by create() at the end.
  const profile = { mapping: [] as object[], function: [] as object[], location: [] as object[], sample: [] as object[] };
  const location = (frame: string): bigint => {
    let id = locations.get(frame);
    if (id !== undefined) return id;
    const [binary, fn] = frame.includes(":") ? frame.split(":", 2) : ["", frame];
    let mapping = 0n;
    if (binary) {
      mapping = mappings.get(binary) ?? 0n;
      if (!mapping) {
        mapping = BigInt(mappings.size + 1);
        mappings.set(binary, mapping);
        profile.mapping.push({ id: mapping, memoryStart: mapping << 32n, memoryLimit: (mapping << 32n) + 0x1000000n, filename: str(`/usr/lib/${binary}`), hasFunctions: true });
      }
    }
    let f = functions.get(fn);
    if (f === undefined) {
      f = BigInt(functions.size + 1);
      functions.set(fn, f);
      profile.function.push({ id: f, name: str(fn), systemName: str(fn), filename: str(`${fn.split(".")[0]}.go`) });
    }
    id = BigInt(locations.size + 1);
    locations.set(frame, id);
    profile.location.push({ id, mappingId: mapping, address: (mapping << 32n) + id * 16n, line: [{ functionId: f, line: 10n }] });
    return id;
  };
  for (const [frames, ns] of stacks) {
    // pprof lists a sample's locations leaf first.
    const ids = frames.map(location).reverse();
    profile.sample.push({ locationId: ids, value: [BigInt(Math.round(ns / 10_000_000)), BigInt(Math.round(ns))] });
  }
  return toBinary(
    ProfileSchema,
    create(ProfileSchema, {
      ...profile,
      sampleType,
      periodType,
      period: 10_000_000n,
      timeNanos: BigInt(timeMs) * 1_000_000n,
      durationNanos: BigInt(durationMs) * 1_000_000n,
      stringTable: strings,
    }),
  );
}

/** Sends profiles of one series (labels without __name__; the name is process_cpu) through WriteRaw. */
export async function push(address: string, labels: Record<string, string>, profiles: Uint8Array[]): Promise<void> {
  const client = createClient(ProfileStoreService, createGrpcWebTransport({ baseUrl: address, useBinaryFormat: true }));
  await client.writeRaw({
    series: [
      {
        labels: { labels: [{ name: "__name__", value: "process_cpu" }, ...Object.entries(labels).map(([name, value]) => ({ name, value }))] },
        samples: profiles.map((rawProfile) => ({ rawProfile })),
      },
    ],
  });
}

const SEC = 1e9;

/**
 * The web service of the synthetic fleet: a request handler whose time is split between JSON encoding,
 * compression and a database query. `compressShare` moves time into compression, so two pods with different
 * shares give a diff with a known red (compress) and known smaller shares (the rest).
 */
export function webStacks(compressShare: number, scale = 1): StackValue[] {
  const handler = ["app:main.main", "app:http.serve", "app:api.handleOrders"];
  const busy = 10 * SEC * scale;
  return [
    [[...handler, "app:json.Encode", "app:json.encodeValue"], busy * 0.3 * (1 - compressShare)],
    [[...handler, "app:json.Encode", "libc.so.6:memmove"], busy * 0.1 * (1 - compressShare)],
    [[...handler, "libz.so.1:compress.Deflate"], busy * compressShare],
    [[...handler, "app:db.Query", "libc.so.6:recv"], busy * 0.6 * (1 - compressShare)],
    [["app:runtime.gcBgMarkWorker", "app:runtime.scanobject"], 1 * SEC * scale],
  ];
}
