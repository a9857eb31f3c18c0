// RoleService's own rules: names checked before the store is asked, one event per
// call with its actor, caches told only of real changes, and the metric and audit
// line the events turn into. The store's atomicity is test/stores/user.store.test.ts's.
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { createAuthEvents, writeAuditLog, type AuthEvent } from "../../src/auth/auth-events";
import { RoleService } from "../../src/authz/role.service";
import { createLogger } from "../../src/logger";
import { createMetrics } from "../../src/metrics";
import type { UserRecord, UserStore } from "../../src/users/user.store";

function memoryUsers(user: UserRecord, calls: string[]): Pick<UserStore, "grantRole" | "revokeRole"> {
  return {
    async grantRole(id, role) {
      calls.push(`grant ${role}`);
      if (id !== user.id) return null;
      const changed = !user.roles.includes(role) && user.roles.length < 16;
      if (changed) user.roles = [...user.roles, role];
      return { user: { ...user }, changed };
    },
    async revokeRole(id, role) {
      calls.push(`revoke ${role}`);
      if (id !== user.id) return null;
      const changed = user.roles.includes(role);
      user.roles = user.roles.filter((held) => held !== role);
      return { user: { ...user }, changed };
    },
  };
}

function setUp() {
  const user: UserRecord = {
    id: randomUUID(),
    email: "ada@example.io",
    passwordHash: "x",
    disabledAt: null,
    roles: [],
    emailVerifiedAt: null,
    createdAt: new Date(),
    updatedAt: new Date(),
  };
  const events = createAuthEvents();
  const seen: AuthEvent[] = [];
  events.subscribe((event) => seen.push(event));
  const changedUsers: string[] = [];
  const storeCalls: string[] = [];
  const roles = new RoleService({
    users: memoryUsers(user, storeCalls) as UserStore,
    events,
    now: Date.now,
    onUserChanged: (id) => changedUsers.push(id),
  });
  return { user, events, seen, changedUsers, roles, storeCalls };
}

describe("RoleService", () => {
  it("grants and revokes, emitting one event per call with its actor, and tells caches only of changes", async () => {
    const { user, seen, changedUsers, roles } = setUp();
    expect(await roles.grantRole(user.id, "staff", "cli")).toMatchObject({ changed: true, user: { roles: ["staff"] } });
    expect(await roles.grantRole(user.id, "staff", "cli")).toMatchObject({ changed: false });
    expect(await roles.revokeRole(user.id, "staff", "admin-id")).toMatchObject({ changed: true, user: { roles: [] } });
    expect(seen).toEqual([
      { type: "role.changed", change: "granted", userId: user.id, role: "staff", actor: "cli", changed: true },
      { type: "role.changed", change: "granted", userId: user.id, role: "staff", actor: "cli", changed: false },
      { type: "role.changed", change: "revoked", userId: user.id, role: "staff", actor: "admin-id", changed: true },
    ]);
    expect(changedUsers).toEqual([user.id, user.id]);
    expect(await roles.grantRole(randomUUID(), "staff", "cli")).toBeNull();
  });

  it.each(["", "Admin", "has space", "x".repeat(65), "émoji", "a/b"])(
    "refuses the role name %j with BAD_USER_INPUT before touching the store",
    async (role) => {
      const { user, seen, roles, storeCalls } = setUp();
      await expect(roles.grantRole(user.id, role, "cli")).rejects.toMatchObject({
        extensions: { code: "BAD_USER_INPUT", field: "role" },
      });
      await expect(roles.revokeRole(user.id, role, "cli")).rejects.toMatchObject({
        extensions: { code: "BAD_USER_INPUT", field: "role" },
      });
      expect(seen).toEqual([]);
      expect(storeCalls).toEqual([]);
    },
  );

  it("accepts 1 to 64 of [a-z0-9:_-]", async () => {
    const { user, roles } = setUp();
    for (const role of ["a", "notes:admin", "team_1-lead", "x".repeat(64)])
      expect(await roles.grantRole(user.id, role, "cli")).toMatchObject({ changed: true });
  });

  it("refuses a grant past 16 roles with BAD_USER_INPUT (every token must stay under 4 KiB)", async () => {
    const { user, roles } = setUp();
    user.roles = Array.from({ length: 16 }, (_, i) => `role-${i}`);
    await expect(roles.grantRole(user.id, "one-more", "cli")).rejects.toMatchObject({
      extensions: { code: "BAD_USER_INPUT", field: "role" },
    });
    expect(await roles.grantRole(user.id, "role-3", "cli")).toMatchObject({ changed: false });
  });

  it("refuses a user id that is not a UUID", async () => {
    const { roles, storeCalls } = setUp();
    await expect(roles.grantRole("42", "staff", "cli")).rejects.toMatchObject({
      extensions: { code: "BAD_USER_INPUT", field: "userId" },
    });
    expect(storeCalls).toEqual([]);
  });

  it("counts changes in keyway_role_changes_total{change} and writes role.granted/role.revoked audit lines", async () => {
    const { user, events, roles } = setUp();
    const metrics = createMetrics({ events, revokedSessions: () => 0 });
    let output = "";
    const logger = createLogger({
      level: "info",
      destination: new Writable({ write: (chunk, _encoding, done) => ((output += String(chunk)), done()) }),
    });
    writeAuditLog(events, logger);
    await roles.grantRole(user.id, "staff", "cli");
    await roles.grantRole(user.id, "staff", "cli");
    await roles.revokeRole(user.id, "staff", "cli");
    const text = await metrics.registry.getSingleMetricAsString("keyway_role_changes_total");
    expect(text).toContain('keyway_role_changes_total{change="granted"} 1');
    expect(text).toContain('keyway_role_changes_total{change="revoked"} 1');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = output
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.event, line.changed])).toEqual([
      ["role.granted", true],
      ["role.granted", false],
      ["role.revoked", true],
    ]);
    expect(lines[0]).toMatchObject({ audit: true, actor: "cli", userId: user.id, role: "staff" });
    expect(output).not.toContain(user.email);
  });
});
