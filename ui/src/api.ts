// The server's QueryService over gRPC-Web on the page's own origin, with the request shapes the UI uses.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  ProfileDiffSelection_Mode,
  QueryRequest_Mode,
  QueryRequest_ReportType,
  QueryRequestSchema,
  QueryService,
  type MetricsSeries,
  type ProfileType,
  type QueryRequest,
  type QueryResponse,
} from "./gen/parca/query/v1alpha1/query_pb";

const transport = createGrpcWebTransport({ baseUrl: window.location.origin, useBinaryFormat: true });
const client = createClient(QueryService, transport);

export type { MetricsSeries, ProfileType };

/** A profile type's id as Grafana and the server build it: name:sample_type:sample_unit:period_type:period_unit[:delta]. */
export function profileTypeId(t: ProfileType): string {
  return `${t.name}:${t.sampleType}:${t.sampleUnit}:${t.periodType}:${t.periodUnit}${t.delta ? ":delta" : ""}`;
}

export function sampleUnit(typeId: string): string {
  return typeId.split(":")[2] ?? "";
}

/** True when the server could not be reached at all (as opposed to answering with an error). */
export function isUnreachable(e: unknown): boolean {
  const err = ConnectError.from(e);
  return err.code === Code.Unavailable || err.code === Code.Unknown && /fetch|network|Failed/i.test(err.rawMessage) || err.code === Code.Unimplemented && /HTTP 404/.test(err.rawMessage);
}

export function errorMessage(e: unknown): string {
  if (e instanceof DOMException && e.name === "AbortError") return "cancelled";
  const err = ConnectError.from(e);
  return err.rawMessage || err.message;
}

function ts(ms: number): Timestamp {
  return timestampFromMs(Math.round(ms));
}

export async function profileTypes(signal?: AbortSignal): Promise<ProfileType[]> {
  const r = await client.profileTypes({}, { signal });
  return r.types;
}

export async function labelNames(type: string, from: number, to: number, signal?: AbortSignal): Promise<string[]> {
  const r = await client.labels({ match: [], start: ts(from), end: ts(to), profileType: type || undefined }, { signal });
  return r.labelNames.filter((n) => n !== "__name__").sort();
}

export async function labelValues(type: string, name: string, from: number, to: number, signal?: AbortSignal): Promise<string[]> {
  const r = await client.values({ labelName: name, match: [], start: ts(from), end: ts(to), profileType: type || undefined }, { signal });
  return [...r.labelValues].sort();
}

export async function queryRange(query: string, from: number, to: number, sumBy: string[], limit: number, signal?: AbortSignal): Promise<MetricsSeries[]> {
  const r = await client.queryRange({ query, start: ts(from), end: ts(to), limit, sumBy }, { signal });
  return r.series;
}

/** What profile one side shows: merged over a range, or the single profile at an instant. */
export type ProfileSource = { kind: "merge"; query: string; from: number; to: number } | { kind: "single"; query: string; at: number };

function selection(src: ProfileSource) {
  return src.kind === "merge"
    ? { mode: ProfileDiffSelection_Mode.MERGE, options: { case: "merge" as const, value: { query: src.query, start: ts(src.from), end: ts(src.to) } } }
    : { mode: ProfileDiffSelection_Mode.SINGLE_UNSPECIFIED, options: { case: "single" as const, value: { query: src.query, time: ts(src.at) } } };
}

export function buildQueryRequest(src: ProfileSource, report: QueryRequest_ReportType, baseline?: ProfileSource): QueryRequest {
  if (baseline) {
    return create(QueryRequestSchema, {
      mode: QueryRequest_Mode.DIFF,
      // Absolute values: the UI derives both totals from the root and colours by change in share itself.
      options: { case: "diff", value: { a: selection(baseline), b: selection(src), absolute: true } },
      reportType: report,
    });
  }
  const s = selection(src);
  return create(QueryRequestSchema, {
    mode: src.kind === "merge" ? QueryRequest_Mode.MERGE : QueryRequest_Mode.SINGLE_UNSPECIFIED,
    options: s.options.case === "merge" ? { case: "merge", value: s.options.value } : { case: "single", value: s.options.value },
    reportType: report,
  });
}

export async function query(req: QueryRequest, signal?: AbortSignal): Promise<QueryResponse> {
  return client.query(req, { signal });
}

export { QueryRequest_ReportType as Report };
