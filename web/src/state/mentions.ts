/**
 * @mentions in rendered comments. The API stores a comment's body as written
 * (`@ann` or `@ann@example.com`, the way `domain/notifications.py` reads them)
 * and answers `mentions`: the ids of the members those tokens resolved to. Here
 * each token that resolves to one of those ids becomes a highlighted chip with
 * the member's display name; anything else (an unknown handle, an address in
 * running text, text inside code or a link) is left as the server rendered it.
 */
import type { Person } from "./people";

// Same shape as the server's `_MENTION`: `@` not preceded by a word or email
// character, a local part, and an optional `@domain`.
const MENTION = /(?<![\w.+@-])@([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)/g;

/** Elements whose text is never a mention. */
const VERBATIM = new Set(["code", "pre", "a"]);

export interface ResolvedMention {
  token: string;
  person: Person;
}

/**
 * The member a token names, among the comment's `mentions`: by full address, or
 * by the address's local part. The server resolves the same way (and drops a
 * local part two members share), so only ids it listed can match.
 */
export function resolveMention(
  token: string,
  mentionIds: readonly string[],
  people: ReadonlyMap<string, Person>,
): Person | null {
  const t = token.replace(/\.+$/, "").toLowerCase();
  const candidates = mentionIds.map((id) => people.get(id)).filter((p): p is Person => !!p?.email);
  const exact = candidates.find((p) => p.email!.toLowerCase() === t);
  if (exact) return exact;
  const local = candidates.filter((p) => p.email!.toLowerCase().split("@")[0] === t);
  return local.length === 1 ? local[0] : null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function highlightText(text: string, mentionIds: readonly string[], people: ReadonlyMap<string, Person>): string {
  return text.replace(MENTION, (whole: string, token: string) => {
    // A trailing full stop ends the sentence, not the handle (as on the server).
    const trimmed = token.replace(/\.+$/, "");
    const rest = token.slice(trimmed.length);
    const person = resolveMention(trimmed, mentionIds, people);
    if (!person) return whole;
    const title = escapeHtml(person.email ? `${person.name} <${person.email}>` : person.name);
    return (
      `<span class="mention" data-user-id="${escapeHtml(person.id)}" title="${title}">` +
      `@${escapeHtml(person.name)}</span>${rest}`
    );
  });
}

/**
 * `html` (the server's sanitised `body_html`) with every resolvable mention
 * wrapped in `<span class="mention">`. Only text between tags is rewritten, and
 * what is inserted is escaped, so the result is as safe as the input.
 */
export function highlightMentions(
  html: string,
  mentionIds: readonly string[],
  people: ReadonlyMap<string, Person>,
): string {
  if (!mentionIds.length) return html;
  let depth = 0; // inside code, pre or a
  let out = "";
  for (const part of html.split(/(<[^>]*>)/)) {
    if (part.startsWith("<")) {
      const m = /^<(\/?)([a-zA-Z0-9]+)/.exec(part);
      if (m && VERBATIM.has(m[2].toLowerCase()) && !part.endsWith("/>")) depth += m[1] ? -1 : 1;
      depth = Math.max(0, depth);
      out += part;
    } else {
      out += depth > 0 ? part : highlightText(part, mentionIds, people);
    }
  }
  return out;
}

