// Label selectors in Parca's PromQL-style syntax: `{job="api", pod=~"web-.*"}`, optionally preceded by a
// profile type id. Parsing reports the first error with its position so the input can show it inline,
// and completionContext tells the autocomplete what the cursor is in (a label name or a value).

export type MatchOp = "=" | "!=" | "=~" | "!~";

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

export interface ParsedSelector {
  /** The profile type id before the braces, "" when absent. */
  type: string;
  matchers: Matcher[];
}

export interface SelectorError {
  message: string;
  /** Offset in the input where the problem is. */
  at: number;
}

export type ParseResult = { ok: true; selector: ParsedSelector } | { ok: false; error: SelectorError };

const labelStart = /[A-Za-z_]/;
const labelChar = /[A-Za-z0-9_]/;
const typeChar = /[A-Za-z0-9_:.\-]/;

/** Parses `type{matchers}`, `{matchers}`, `type` or "" (no matchers). */
export function parseSelector(input: string): ParseResult {
  let i = 0;
  const fail = (message: string, at = i): ParseResult => ({ ok: false, error: { message, at } });
  const skipSpace = () => {
    while (i < input.length && /\s/.test(input[i])) i++;
  };
  skipSpace();
  const typeStart = i;
  while (i < input.length && typeChar.test(input[i])) i++;
  const type = input.slice(typeStart, i);
  skipSpace();
  const matchers: Matcher[] = [];
  if (i === input.length) return { ok: true, selector: { type, matchers } };
  if (input[i] !== "{") return fail(`unexpected "${input[i]}": expected "{"`);
  i++;
  for (;;) {
    skipSpace();
    if (i >= input.length) return fail('missing closing "}"');
    if (input[i] === "}") {
      i++;
      break;
    }
    if (!labelStart.test(input[i])) return fail(`expected a label name, found "${input[i]}"`);
    const nameStart = i;
    while (i < input.length && labelChar.test(input[i])) i++;
    const name = input.slice(nameStart, i);
    skipSpace();
    const opStart = i;
    let op: MatchOp;
    if (input.startsWith("=~", i)) op = "=~";
    else if (input.startsWith("!~", i)) op = "!~";
    else if (input.startsWith("!=", i)) op = "!=";
    else if (input[i] === "=") op = "=";
    else return fail(i >= input.length ? `missing operator after "${name}"` : `expected =, !=, =~ or !~ after "${name}"`);
    i += op.length;
    skipSpace();
    const quote = input[i];
    if (quote !== '"' && quote !== "'" && quote !== "`") return fail(`expected a quoted value for "${name}"`);
    const valueStart = i;
    i++;
    let value = "";
    let closed = false;
    while (i < input.length) {
      const c = input[i];
      if (c === quote) {
        closed = true;
        i++;
        break;
      }
      if (c === "\\" && quote !== "`" && i + 1 < input.length) {
        const e = input[i + 1];
        value += e === "n" ? "\n" : e === "t" ? "\t" : e;
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    if (!closed) return fail(`unterminated value for "${name}"`, valueStart);
    if (op === "=~" || op === "!~") {
      try {
        new RegExp(`^(?:${value})$`);
      } catch (e) {
        return fail(`invalid regular expression for "${name}": ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`, opStart);
      }
    }
    matchers.push({ name, op, value });
    skipSpace();
    if (input[i] === ",") {
      i++;
      continue;
    }
    if (input[i] === "}") {
      i++;
      break;
    }
    return fail(i >= input.length ? 'missing closing "}"' : `expected "," or "}", found "${input[i]}"`);
  }
  skipSpace();
  if (i < input.length) return fail(`unexpected "${input[i]}" after "}"`);
  return { ok: true, selector: { type, matchers } };
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** Writes matchers back as `{a="b",c=~"d"}`; "" when there are none. */
export function formatMatchers(matchers: readonly Matcher[]): string {
  if (matchers.length === 0) return "";
  return `{${matchers.map((m) => `${m.name}${m.op}${quote(m.value)}`).join(",")}}`;
}

/** The query the server takes: the profile type id followed by the matchers (always with braces). */
export function buildQuery(type: string, matchers: readonly Matcher[]): string {
  return `${type}${formatMatchers(matchers) || "{}"}`;
}

/** The selector for one series' label set, used to query the profile behind a graph point. */
export function seriesSelector(labels: readonly { name: string; value: string }[]): string {
  return formatMatchers(labels.filter((l) => l.name !== "__name__").map((l) => ({ name: l.name, op: "=" as const, value: l.value })));
}

export type CompletionContext =
  | { kind: "name"; prefix: string; from: number; to: number; used: string[] }
  | { kind: "value"; label: string; prefix: string; from: number; to: number }
  | { kind: "none" };

/**
 * What the text before the cursor is in the middle of: a label name (complete names) or a quoted value
 * (complete that label's values). from/to is the span a chosen completion replaces.
 */
export function completionContext(input: string, cursor: number): CompletionContext {
  const open = input.indexOf("{");
  if (open < 0 || cursor <= open) return { kind: "none" };
  let i = open + 1;
  let lastName = "";
  const used: string[] = [];
  // Walk the matchers before the cursor; state says what the cursor would be typing.
  let state: "name" | "op" | "value" | "after" = "name";
  let tokenStart = i;
  let quoteChar = "";
  while (i < cursor) {
    const c = input[i];
    if (state === "name") {
      if (labelChar.test(c)) {
        i++;
        continue;
      }
      if (/\s/.test(c) && i === tokenStart) {
        i++;
        tokenStart = i;
        continue;
      }
      lastName = input.slice(tokenStart, i).trim();
      if (lastName) used.push(lastName);
      state = "op";
      continue;
    }
    if (state === "op") {
      if (c === '"' || c === "'" || c === "`") {
        quoteChar = c;
        state = "value";
        i++;
        tokenStart = i;
        continue;
      }
      i++;
      continue;
    }
    if (state === "value") {
      if (c === "\\" && quoteChar !== "`") {
        i += 2;
        continue;
      }
      if (c === quoteChar) state = "after";
      i++;
      continue;
    }
    // after a value: a comma starts the next name
    if (c === ",") {
      state = "name";
      tokenStart = i + 1;
    } else if (c === "}") {
      return { kind: "none" };
    }
    i++;
  }
  if (state === "name") {
    let end = cursor;
    while (end < input.length && labelChar.test(input[end])) end++;
    return { kind: "name", prefix: input.slice(tokenStart, cursor).trimStart(), from: tokenStart + (input.slice(tokenStart, cursor).length - input.slice(tokenStart, cursor).trimStart().length), to: end, used };
  }
  if (state === "value") {
    let end = cursor;
    while (end < input.length && input[end] !== quoteChar) end++;
    return { kind: "value", label: lastName, prefix: input.slice(tokenStart, cursor), from: tokenStart, to: end };
  }
  return { kind: "none" };
}
