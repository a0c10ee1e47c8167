// The names of one profile as one string and the offsets into it, the way the FLAMEGRAPH_ARROW record's
// dictionary holds them. A profile of 100,000 functions is then two objects for the garbage collector instead of
// 100,000 strings: the first scavenge after a profile loaded used to copy (and the next to promote) every name.

/** Name k is `text.slice(offsets[k], offsets[k + 1])`; `offsets` has one more entry than there are names. */
export class NameTable {
  constructor(
    readonly text: string,
    readonly offsets: Int32Array,
  ) {}

  static of(names: readonly string[]): NameTable {
    const offsets = new Int32Array(names.length + 1);
    for (let k = 0; k < names.length; k++) offsets[k + 1] = offsets[k] + names[k].length;
    return new NameTable(names.join(""), offsets);
  }

  get count(): number {
    return this.offsets.length - 1;
  }

  /** A new string (a slice of the table's): for what is shown or passed on, not for comparing; see equals. */
  get(id: number): string {
    return this.text.slice(this.offsets[id], this.offsets[id + 1]);
  }

  /** The name's length in UTF-16 code units. */
  length(id: number): number {
    return this.offsets[id + 1] - this.offsets[id];
  }

  /** Whether name `id` is `name`, without making a string. */
  equals(id: number, name: string): boolean {
    const from = this.offsets[id];
    return this.offsets[id + 1] - from === name.length && this.text.startsWith(name, from);
  }

  /** The table with `more` names added after its own (ids unchanged). */
  concat(more: readonly string[]): NameTable {
    if (more.length === 0) return this;
    const n = this.count;
    const offsets = new Int32Array(n + more.length + 1);
    offsets.set(this.offsets);
    for (let k = 0; k < more.length; k++) offsets[n + k + 1] = offsets[n + k] + more[k].length;
    return new NameTable(this.text + more.join(""), offsets);
  }

  /**
   * Marks in `out` (one byte per name) the names containing `needle`, compared case-insensitively. One search
   * through the whole text instead of one per name; a match across two names' boundary does not count.
   */
  markContaining(needle: string, out: Uint8Array): void {
    const lower = needle.toLowerCase();
    const text = this.text.toLowerCase();
    const { offsets } = this;
    if (text.length !== this.text.length) {
      // Lower-casing changed lengths (a few non-ASCII letters do), so the offsets do not apply to it: name by name.
      for (let k = 0; k < this.count; k++) out[k] = this.get(k).toLowerCase().includes(lower) ? 1 : 0;
      return;
    }
    if (lower.length === 0) {
      out.fill(1, 0, this.count);
      return;
    }
    let k = 0;
    for (let at = text.indexOf(lower); at >= 0; ) {
      while (offsets[k + 1] <= at) k++;
      if (at + lower.length <= offsets[k + 1]) {
        out[k] = 1;
        at = text.indexOf(lower, offsets[k + 1]);
      } else at = text.indexOf(lower, at + 1);
    }
  }
}
