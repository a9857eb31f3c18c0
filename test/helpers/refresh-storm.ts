// A refresh storm for crash tests: N cookieless sessions, each held by two clients
// (forks) that refresh with the same token at the same time, round after round,
// until keyway dies under them. Then the rules every session must satisfy, read
// from the Session rows and from keyway's answers after a restart.
import { hashSecret, parseRefreshToken } from "../../src/token/refresh-token";
import { REFRESH_HEADER, REFRESH_TOKEN, signUp, tokensOf } from "./auth";
import { callGraphQL, errorOf } from "./http";
import type { KeywayProcess } from "./process";

/** A refresh token and the number of answered rotations of its session when it arrived. */
export interface Held {
  token: string;
  generation: number;
}

export interface StormSession {
  sessionId: string;
  /** What each of the two forks holds right now. */
  forks: [Held, Held];
  /** Rounds in which at least one fork was answered with a rotated token. */
  answered: number;
  /** Answers other than a rotated token (a connection cut by the kill is not one). */
  unexpected: string[];
  /** When the round that got no HTTP answer (cut by the kill, or sent after it) was sent. */
  unansweredSentAt?: number;
}

/** The columns of "Session" the crash rules are about. */
export interface SessionRow {
  id: string;
  tokenHash: string | null;
  previousTokenHash: string | null;
  sealedToken: string | null;
  generation: number;
  rotatedAt: Date | null;
  endedAt: Date | null;
  endReason: string | null;
}

export const SESSION_ROWS_SQL =
  'SELECT id::text AS id, "tokenHash", "previousTokenHash", "sealedToken", generation, "rotatedAt", "endedAt", "endReason"::text AS "endReason" FROM "Session"';

export async function createStormSessions(url: string, count: number): Promise<StormSession[]> {
  const sessions: StormSession[] = [];
  // A few at a time: each sign-up is an argon2 hash.
  for (let start = 0; start < count; start += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, count - start) }, () =>
        signUp(url, undefined, undefined, { headers: { [REFRESH_HEADER]: "1" } }),
      ),
    );
    for (const account of batch) {
      const held = { token: account.refreshToken, generation: 0 };
      sessions.push({ sessionId: account.sessionId, forks: [held, { ...held }], answered: 0, unexpected: [] });
    }
  }
  return sessions;
}

/** Runs every session's rounds until `stop()` or until a connection fails (the kill). */
export function runStorm(url: string, sessions: StormSession[], stop: () => boolean): Promise<void> {
  return Promise.all(sessions.map((session) => stormOne(url, session, stop))).then(() => undefined);
}

async function stormOne(url: string, session: StormSession, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const sentAt = Date.now();
    const attempts = await Promise.allSettled(session.forks.map((held) => refreshWith(url, held.token)));
    let rotated = false;
    attempts.forEach((attempt, index) => {
      if (attempt.status === "rejected") return; // cut by the kill: this fork keeps its token
      if (attempt.value.ok) {
        session.forks[index] = { token: attempt.value.token, generation: session.answered + 1 };
        rotated = true;
      } else {
        session.unexpected.push(attempt.value.answer);
      }
    });
    if (rotated) session.answered += 1;
    if (attempts.some((attempt) => attempt.status === "rejected")) session.unansweredSentAt = sentAt;
    if (session.unansweredSentAt !== undefined || session.unexpected.length > 0) return;
  }
}

export type RefreshAnswer = { ok: true; token: string } | { ok: false; answer: string };

/** One cookieless refresh; rejects only when no HTTP answer came (connection refused or cut). */
export async function refreshWith(url: string, token: string): Promise<RefreshAnswer> {
  const response = await callGraphQL(url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: token } });
  if (response.status === 200 && !response.body.errors)
    return { ok: true, token: tokensOf(response, "refreshToken").refreshToken };
  return { ok: false, answer: `HTTP ${response.status} ${JSON.stringify(errorOf(response))}` };
}

export function hashOf(token: string): string {
  const parsed = parseRefreshToken(token);
  if (!parsed) throw new Error(`not a refresh token: ${token}`);
  return hashSecret(parsed.secret);
}

/** Problems with a row as the crash left it, against what its clients were told. */
export function rowProblems(row: SessionRow | undefined, session: StormSession): string[] {
  if (!row) return ["the Session row is missing"];
  const problems: string[] = [];
  const rotatedOnce = row.generation > 0;
  if (!row.tokenHash) problems.push("tokenHash is null");
  if ((row.endedAt === null) !== (row.endReason === null))
    problems.push(`endedAt ${String(row.endedAt)} with endReason ${String(row.endReason)}`);
  if ([row.rotatedAt, row.previousTokenHash, row.sealedToken].some((value) => (value !== null) !== rotatedOnce)) {
    problems.push(
      `generation ${row.generation} with rotatedAt/previousTokenHash/sealedToken ${[row.rotatedAt, row.previousTokenHash, row.sealedToken].map((v) => (v === null ? "null" : "set")).join("/")}`,
    );
  }
  if (rotatedOnce && row.previousTokenHash === row.tokenHash) problems.push("previousTokenHash equals tokenHash");
  // Every answered rotation was committed; at most the one in flight at the kill was committed unanswered.
  if (row.generation < session.answered || row.generation > session.answered + 1) {
    problems.push(`generation ${row.generation} after ${session.answered} answered rotations`);
  }
  for (const held of session.forks) {
    const hash = hashOf(held.token);
    if (hash !== row.tokenHash && hash !== row.previousTokenHash)
      problems.push(`a fork holds a token that is neither current nor predecessor (generation ${held.generation})`);
  }
  return problems;
}

/**
 * After the restart: each fork refreshes with what it holds, older token first (as
 * the grace rule intends: a predecessor converges on the current token), then both
 * forks race with one token. Returns problems; the session's newest token on success.
 */
export async function verifyAfterRestart(
  url: string,
  session: StormSession,
): Promise<{ problems: string[]; current?: string }> {
  const problems: string[] = [];
  const ordered = [...session.forks].sort((a, b) => a.generation - b.generation);
  const tokens: string[] = [];
  for (const held of ordered) {
    const answer = await refreshWith(url, held.token);
    if (answer.ok) tokens.push(answer.token);
    else problems.push(`a held token (generation ${held.generation}) no longer refreshes: ${answer.answer}`);
  }
  const newest = tokens.at(-1);
  if (!newest) return { problems: [...problems, "no token a client holds still works"] };
  const race = await Promise.all([refreshWith(url, newest), refreshWith(url, newest)]);
  const issued = race.flatMap((answer) => (answer.ok ? [answer.token] : []));
  if (issued.length !== 2) problems.push(`forks racing with one token: ${JSON.stringify(race)}`);
  else if (issued[0] !== issued[1])
    problems.push("two forks racing with one token got two different tokens (two lineages)");
  return { problems, current: issued[0] };
}

/** Resolves once the storm has answered `min` rotations in all, so a kill lands mid-storm on a slow machine too. */
export async function waitForRotations(sessions: StormSession[], min: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sessions.reduce((sum, session) => sum + session.answered, 0) < min) {
    if (Date.now() > deadline) throw new Error(`the storm answered fewer than ${min} rotations in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Rotations whose answer the kill took away: what a crash test must have produced to prove anything. */
export interface CutRotations {
  /** Sessions whose row is one generation ahead of the answers: the rotation committed, its answer was lost. */
  committedUnanswered: number;
  /** Other sessions with a refresh sent before the kill that never got an answer: it was in flight. */
  inFlight: number;
}

export function cutRotations(sessions: StormSession[], rows: Map<string, SessionRow>, killedAt: number): CutRotations {
  let committedUnanswered = 0;
  let inFlight = 0;
  for (const session of sessions) {
    if (rows.get(session.sessionId)?.generation === session.answered + 1) committedUnanswered++;
    else if (session.unansweredSentAt !== undefined && session.unansweredSentAt < killedAt) inFlight++;
  }
  return { committedUnanswered, inFlight };
}

export interface KillDuringStormOptions {
  /** Starts keyway on the database under test; every attempt uses the same one. */
  start(): Promise<KeywayProcess>;
  /** The Session rows as the kill left them, read before keyway opens the database again. */
  readRows(): Promise<Map<string, SessionRow>>;
  sessions: number;
  /** The first attempt kills after this many answered rotations, each later one a round later. */
  rotationsBeforeKill: number;
  maxAttempts: number;
  /**
   * What counts as a kill that cut a rotation: "committed", only a rotation that
   * committed and lost its answer (the one case that proves something about crash
   * recovery); "outstanding", also a refresh that was sent and never answered,
   * which may not have reached keyway at all.
   */
  until: "committed" | "outstanding";
}

export interface KillDuringStorm {
  /** How many attempts it took for the kill to cut a rotation (the last one's results follow). */
  attempts: number;
  sessions: StormSession[];
  rows: Map<string, SessionRow>;
  cut: CutRotations;
}

/**
 * Starts keyway, storms it with fresh sessions and SIGKILLs it mid-storm. A kill that
 * cut no rotation proves nothing about crashes, so then it tries again (keyway
 * started anew on the same database, fresh sessions, a later kill), at most
 * `maxAttempts` times; the caller asserts on the last attempt's `cut`.
 */
export async function killDuringStorm(options: KillDuringStormOptions): Promise<KillDuringStorm> {
  for (let attempt = 1; ; attempt++) {
    const keyway = await options.start();
    let stopped = false;
    try {
      const sessions = await createStormSessions(keyway.url, options.sessions);
      const storm = runStorm(keyway.url, sessions, () => stopped);
      await waitForRotations(sessions, options.rotationsBeforeKill + (attempt - 1) * options.sessions);
      const killedAt = Date.now();
      keyway.child.kill("SIGKILL");
      await keyway.exited;
      stopped = true;
      await storm;
      const rows = await options.readRows();
      const cut = cutRotations(sessions, rows, killedAt);
      console.log(
        `kill during refresh, attempt ${attempt}: ${sessions.reduce((sum, session) => sum + session.answered, 0)} answered rotations before the kill; ` +
          `of ${sessions.length} sessions, ${cut.committedUnanswered} had a rotation committed whose answer the kill cut, ${cut.inFlight} one in flight`,
      );
      const enough =
        options.until === "committed" ? cut.committedUnanswered > 0 : cut.committedUnanswered + cut.inFlight > 0;
      if (enough || attempt >= options.maxAttempts) return { attempts: attempt, sessions, rows, cut };
    } finally {
      stopped = true;
      if (keyway.child.exitCode === null && keyway.child.signalCode === null) {
        keyway.child.kill("SIGKILL");
        await keyway.exited;
      }
    }
  }
}
