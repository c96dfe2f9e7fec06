import { describe, expect, it } from "vitest";
import { readSsoFragment } from "./ssoReturn";

describe("readSsoFragment", () => {
  it("takes the token pair", () => {
    expect(readSsoFragment("#access_token=a.b.c&refresh_token=r1&user_id=u&org_id=o")).toEqual({
      tokens: { access_token: "a.b.c", refresh_token: "r1" },
    });
  });
  it("takes the refusal reason, decoded", () => {
    expect(readSsoFragment("#error=no+account+for+this+login%3A+x")).toEqual({
      error: "no account for this login: x",
    });
  });
  it("ignores other fragments and half pairs", () => {
    expect(readSsoFragment("")).toBeNull();
    expect(readSsoFragment("#section-2")).toBeNull();
    expect(readSsoFragment("#access_token=only")).toBeNull();
  });
});
