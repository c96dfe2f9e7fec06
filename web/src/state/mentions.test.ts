import { describe, expect, it } from "vitest";
import { highlightMentions, resolveMention } from "./mentions";
import type { Person } from "./people";

const BOB = { id: "b0b", name: "Bob Stone", email: "bob@example.com" };
const BOB2 = { id: "b0b2", name: "Bob Other", email: "bob@elsewhere.test" };
const ANN = { id: "a22", name: "Ann <Lee>", email: "ann@example.com" };
const people: ReadonlyMap<string, Person> = new Map([BOB, BOB2, ANN].map((p) => [p.id, p]));

describe("resolveMention", () => {
  it("finds a mentioned member by local part or full address", () => {
    expect(resolveMention("bob", ["b0b"], people)?.id).toBe("b0b");
    expect(resolveMention("BOB@example.com", ["b0b", "b0b2"], people)?.id).toBe("b0b");
    expect(resolveMention("bob@elsewhere.test", ["b0b", "b0b2"], people)?.id).toBe("b0b2");
  });

  it("resolves only to ids the server listed, and not an ambiguous local part", () => {
    expect(resolveMention("ann", ["b0b"], people)).toBeNull();
    expect(resolveMention("bob", ["b0b", "b0b2"], people)).toBeNull();
    expect(resolveMention("carol", ["b0b"], people)).toBeNull();
  });
});

describe("highlightMentions", () => {
  it("wraps a resolved mention in a chip with the display name", () => {
    const html = "<p>@bob could you review this today?</p>\n";
    expect(highlightMentions(html, ["b0b"], people)).toBe(
      '<p><span class="mention" data-user-id="b0b" title="Bob Stone &lt;bob@example.com&gt;">@Bob Stone</span>' +
        " could you review this today?</p>\n",
    );
  });

  it("keeps a sentence's full stop outside the chip", () => {
    const out = highlightMentions("<p>Thanks @bob.</p>", ["b0b"], people);
    expect(out).toContain(">@Bob Stone</span>.</p>");
  });

  it("escapes the name it inserts", () => {
    const out = highlightMentions("<p>@ann</p>", ["a22"], people);
    expect(out).toContain(">@Ann &lt;Lee&gt;</span>");
    expect(out).not.toContain("<Lee>");
  });

  it("leaves unknown handles, email addresses and code alone", () => {
    const html =
      "<p>@carol, mail bob@example.com</p><pre><code>@bob in code</code></pre>" +
      '<p><a href="https://x.test/@bob">@bob</a> and <code>@bob</code> but @bob</p>';
    const out = highlightMentions(html, ["b0b"], people);
    expect(out.match(/class="mention"/g)).toHaveLength(1);
    expect(out).toContain("@carol, mail bob@example.com");
    expect(out).toContain("<code>@bob in code</code>");
    expect(out).toContain('<a href="https://x.test/@bob">@bob</a>');
    expect(out.endsWith('but <span class="mention" data-user-id="b0b" title="Bob Stone &lt;bob@example.com&gt;">@Bob Stone</span></p>')).toBe(true);
  });

  it("is the identity without mentions", () => {
    const html = "<p>@bob</p>";
    expect(highlightMentions(html, [], people)).toBe(html);
  });
});
