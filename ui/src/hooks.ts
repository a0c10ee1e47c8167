import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { DARK, LIGHT, type Theme } from "./flame/colors";
import { parseState, serializeState, type ViewState } from "./url";

/** The view state, read from and written to the URL; browser back/forward restore earlier views. */
export function useUrlState(): [ViewState, (next: ViewState, push?: boolean) => void] {
  const [state, setState] = useState(() => parseState(window.location.search));
  useEffect(() => {
    const onPop = () => setState(parseState(window.location.search));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const update = useCallback((next: ViewState, push = false) => {
    const url = `${window.location.pathname}${serializeState(next)}`;
    if (url !== `${window.location.pathname}${window.location.search}`) {
      if (push) window.history.pushState(null, "", url);
      else window.history.replaceState(null, "", url);
    }
    setState(next);
  }, []);
  return [state, update];
}

export type Async<T> = { status: "idle" } | { status: "loading"; previous?: T } | { status: "done"; value: T } | { status: "error"; error: unknown; previous?: T };

/** Runs `load` whenever `key` changes, cancelling the previous run; keeps the previous value while loading. */
export function useAsync<T>(key: string | null, load: (signal: AbortSignal) => Promise<T>): Async<T> {
  const [state, setState] = useState<Async<T>>({ status: "idle" });
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (key === null) {
      setState({ status: "idle" });
      return;
    }
    const controller = new AbortController();
    setState((s) => ({ status: "loading", previous: s.status === "done" ? s.value : s.status === "loading" || s.status === "error" ? s.previous : undefined }));
    loadRef.current(controller.signal).then(
      (value) => {
        if (!controller.signal.aborted) setState({ status: "done", value });
      },
      (error) => {
        if (!controller.signal.aborted) setState((s) => ({ status: "error", error, previous: s.status === "loading" ? s.previous : undefined }));
      },
    );
    return () => controller.abort();
  }, [key]);
  return state;
}

export function valueOf<T>(a: Async<T>): T | undefined {
  return a.status === "done" ? a.value : a.status === "loading" || a.status === "error" ? a.previous : undefined;
}

/** The canvas theme following the system's light/dark setting. */
export function useTheme(): Theme {
  const query = "(prefers-color-scheme: dark)";
  const [dark, setDark] = useState(() => window.matchMedia?.(query).matches ?? false);
  useEffect(() => {
    const m = window.matchMedia?.(query);
    if (!m) return;
    const on = () => setDark(m.matches);
    m.addEventListener("change", on);
    return () => m.removeEventListener("change", on);
  }, []);
  return dark ? DARK : LIGHT;
}

/** Width of an element in CSS pixels, following resizes. */
export function useWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  // Measured before the browser paints, so the first frame already shows the drawing at its real width.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}
