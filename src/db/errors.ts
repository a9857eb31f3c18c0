// Prisma's error codes that the stores turn into answers of their own.

/** P2002: a unique index refused the row (an email or token family already taken). */
export const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown }).code === "P2002";
