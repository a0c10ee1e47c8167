import { useEffect, useId, useRef, useState } from "react";
import { completionContext, parseSelector, type CompletionContext } from "../selector";

interface Props {
  value: string;
  onCommit: (value: string) => void;
  /** Label names for autocomplete. */
  loadNames: () => Promise<string[]>;
  /** Values of one label for autocomplete. */
  loadValues: (label: string) => Promise<string[]>;
  label: string;
}

/** The label selector box: inline parse errors and autocomplete of label names and values. */
export function SelectorInput({ value, onCommit, loadNames, loadValues, label }: Props) {
  const [text, setText] = useState(value);
  const [cursor, setCursor] = useState(0);
  const [open, setOpen] = useState(false);
  const [options, setOptions] = useState<string[]>([]);
  const [active, setActive] = useState(0);
  const [loadError, setLoadError] = useState("");
  const inputRef = useRef<HTMLInputElement>(null);
  const id = useId();
  const ctxRef = useRef<CompletionContext>({ kind: "none" });

  useEffect(() => setText(value), [value]);

  const parsed = parseSelector(text);
  const error = parsed.ok ? null : parsed.error;

  useEffect(() => {
    if (!open) return;
    const ctx = completionContext(text.trim() === "" ? "{" : text, text.trim() === "" ? 1 : cursor);
    ctxRef.current = ctx;
    if (ctx.kind === "none") {
      setOptions([]);
      return;
    }
    let cancelled = false;
    (ctx.kind === "name" ? loadNames() : loadValues(ctx.label)).then(
      (all) => {
        if (cancelled) return;
        const prefix = ctx.prefix.toLowerCase();
        const list = all.filter((o) => o.toLowerCase().includes(prefix) && !(ctx.kind === "name" && ctx.used.includes(o)));
        list.sort((a, b) => Number(!a.toLowerCase().startsWith(prefix)) - Number(!b.toLowerCase().startsWith(prefix)));
        setOptions(list.slice(0, 50));
        setActive(0);
        setLoadError("");
      },
      (e) => {
        if (!cancelled) setLoadError(`Could not load suggestions: ${(e as Error).message}`);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [text, cursor, open, loadNames, loadValues]);

  const accept = (option: string) => {
    let base = text;
    let ctx = ctxRef.current;
    if (text.trim() === "") {
      base = "{}";
      ctx = { kind: "name", prefix: "", from: 1, to: 1, used: [] };
    }
    if (ctx.kind === "none") return;
    let insert: string;
    let caret: number;
    if (ctx.kind === "name") {
      insert = `${option}="`;
      caret = ctx.from + insert.length;
    } else {
      const escaped = option.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
      insert = `${escaped}"`;
      caret = ctx.from + insert.length;
    }
    let rest = base.slice(ctx.to);
    // Replacing a value: drop the old closing quote, the inserted text brings its own.
    if (ctx.kind === "value" && rest.startsWith('"')) rest = rest.slice(1);
    // Replacing a name that already has an operator after it: keep that operator and value.
    if (ctx.kind === "name" && /^\s*(=|!=|=~|!~)/.test(rest)) {
      insert = option;
      caret = ctx.from + option.length;
    }
    let next = base.slice(0, ctx.from) + insert + rest;
    if (!next.includes("}")) next += "}";
    setText(next);
    setCursor(caret);
    requestAnimationFrame(() => {
      const el = inputRef.current;
      if (el) {
        el.focus();
        el.setSelectionRange(caret, caret);
      }
      // Setting the value moved the caret to the end (and reported it); put the completion context back.
      setCursor(caret);
      setOpen(true);
    });
  };

  const commit = () => {
    if (parseSelector(text).ok && text !== value) onCommit(text.trim());
  };

  const showList = open && options.length > 0;
  return (
    <div className="selector">
      <input
        ref={inputRef}
        aria-label={label}
        className={error ? "invalid" : ""}
        role="combobox"
        aria-expanded={showList}
        aria-controls={`${id}-list`}
        aria-autocomplete="list"
        aria-activedescendant={showList ? `${id}-opt-${active}` : undefined}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-err` : undefined}
        spellCheck={false}
        autoComplete="off"
        placeholder='{job="api", pod=~"web-.*"}'
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setCursor(e.target.selectionStart ?? e.target.value.length);
          setOpen(true);
        }}
        onSelect={(e) => setCursor((e.target as HTMLInputElement).selectionStart ?? 0)}
        onFocus={() => setOpen(true)}
        onBlur={() => {
          setOpen(false);
          commit();
        }}
        onKeyDown={(e) => {
          if (showList && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
            setActive((a) => (a + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
            e.preventDefault();
          } else if (showList && (e.key === "Tab" || (e.key === "Enter" && ctxRef.current.kind !== "none" && options[active]))) {
            accept(options[active]);
            e.preventDefault();
          } else if (e.key === "Escape") {
            setOpen(false);
          } else if (e.key === "Enter") {
            commit();
            setOpen(false);
          }
        }}
      />
      {showList && (
        <ul className="suggestions" id={`${id}-list`} role="listbox">
          {options.map((o, k) => (
            <li
              key={o}
              id={`${id}-opt-${k}`}
              role="option"
              aria-selected={k === active}
              className={k === active ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(o);
              }}
            >
              {o}
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div className="field-error" id={`${id}-err`} role="alert">
          {error.message} (at column {error.at + 1})
        </div>
      )}
      {!error && loadError && <div className="field-error">{loadError}</div>}
    </div>
  );
}
