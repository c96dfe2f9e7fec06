/**
 * The filter bar's language on the client: `status:todo priority:high label:bug
 * assignee:me free words`. When the server understands `?filter=` the text goes
 * to it unchanged; otherwise the known fields become the list endpoint's query
 * parameters and the free words match titles here.
 */

export const FILTER_FIELDS = ["status", "priority", "label", "assignee"] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export interface ParsedFilter {
  fields: Partial<Record<FilterField, string>>;
  words: string[];
}

export function parseFilter(text: string): ParsedFilter {
  const fields: ParsedFilter["fields"] = {};
  const words: string[] = [];
  for (const token of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(\w+):(.+)$/.exec(token);
    if (m && (FILTER_FIELDS as readonly string[]).includes(m[1].toLowerCase())) {
      fields[m[1].toLowerCase() as FilterField] = m[2];
    } else {
      words.push(token.toLowerCase());
    }
  }
  return { fields, words };
}

/** Completions for the token being typed at the end of `text`. */
export function suggest(text: string, values: Record<FilterField, string[]>): string[] {
  const token = text.split(/\s+/).pop() ?? "";
  const m = /^(\w+):(.*)$/.exec(token);
  if (m && (FILTER_FIELDS as readonly string[]).includes(m[1])) {
    const field = m[1] as FilterField;
    return values[field].filter((v) => v.toLowerCase().startsWith(m[2].toLowerCase()) && v !== m[2]).map((v) => `${field}:${v}`);
  }
  return FILTER_FIELDS.filter((f) => f.startsWith(token.toLowerCase())).map((f) => `${f}:`);
}

/** `text` with its last token replaced by `completion`. */
export function complete(text: string, completion: string): string {
  const head = text.replace(/\S*$/, "");
  return head + completion + (completion.endsWith(":") ? "" : " ");
}
