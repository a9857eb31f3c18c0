// Which database errors count as an outage (503) rather than a bug (masked 500).
import { isDatabaseUnavailable } from "../../src/db/unavailable";

describe("isDatabaseUnavailable", () => {
  test("Prisma's P2039 wrapping SQLSTATE 57P03 (PostgreSQL still recovering after a restart) is an outage", () => {
    // The shape keyway logged in test/faults/postgres-outage.test.ts before this was recognized.
    const error = Object.assign(new Error("Invalid `prisma.user.findUnique()` invocation: Database error."), {
      name: "PrismaClientKnownRequestError",
      code: "P2039",
      meta: {
        driverAdapterError: {
          name: "DriverAdapterError",
          cause: { kind: "postgres", code: "57P03", message: "recovery" },
        },
      },
    });
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  test("refused connections and terminated connections are outages", () => {
    expect(
      isDatabaseUnavailable(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error("Connection terminated unexpectedly"))).toBe(true);
  });

  test("a server with no connection left (53300), from the driver or through Prisma, is an outage", () => {
    // pg's DatabaseError for "sorry, too many clients already" (or a role's CONNECTION LIMIT).
    const fromDriver = Object.assign(new Error("sorry, too many clients already"), {
      severity: "FATAL",
      code: "53300",
    });
    expect(isDatabaseUnavailable(fromDriver)).toBe(true);
    const throughPrisma = Object.assign(new Error("Database error."), {
      code: "P2039",
      meta: {
        driverAdapterError: { cause: { kind: "postgres", code: "53300", message: "too many connections for role" } },
      },
    });
    expect(isDatabaseUnavailable(throughPrisma)).toBe(true);
    // Other resource errors of class 53 (disk full, out of memory) are not a missing connection.
    expect(isDatabaseUnavailable(Object.assign(new Error("could not extend file"), { code: "53100" }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code: "533001" }))).toBe(false);
  });

  test("query errors are not outages", () => {
    const uniqueViolation = Object.assign(new Error("Unique constraint failed"), {
      code: "P2002",
      meta: { driverAdapterError: { cause: { kind: "postgres", code: "23505" } } },
    });
    expect(isDatabaseUnavailable(uniqueViolation)).toBe(false);
    expect(isDatabaseUnavailable(new Error("syntax error at or near"))).toBe(false);
    expect(isDatabaseUnavailable("ECONNREFUSED")).toBe(false);
  });
});
